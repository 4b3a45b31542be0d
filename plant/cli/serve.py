"""``plantwatch serve``: live scoring, the alarm engine and its HTTP API, in one process.

Subscribes to every reading, assembles windows with ingest's window assembly (rebuilt from the
store at start), scores them with the registry's active model (reloaded when another is
promoted), publishes health per asset, writes scores to the store, and feeds the alarm engine,
whose HTTP API it serves. See docs/OPERATIONS.md. SIGTERM or Ctrl-C stops cleanly.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

from plant.cli.common import add_service_options, load_plant, mqtt_password, setup_logging

log = logging.getLogger("plantwatch.serve")
COMPONENT = "serve"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_service_options(p)
    p.add_argument(
        "--registry", type=Path, default=Path("data/models"), help="model registry (ACTIVE)"
    )
    p.add_argument("--max-wait-ms", type=float, default=100.0, help="batching latency bound")
    p.add_argument("--max-batch", type=int, default=1024, help="windows per scoring call")
    p.add_argument(
        "--clock",
        choices=("wall", "readings"),
        default="wall",
        help="the alarm engine's clock: wall time, or the newest reading time (replays, "
        "speeded-up simulations)",
    )
    p.add_argument("--api-port", type=int, default=None, help="alarm API port (default: config)")
    p.add_argument("--no-rebuild", action="store_true", help="do not rebuild windows from store")
    p.add_argument(
        "--xla-cache", type=Path, default=None, help="compiled-code cache (<registry>/.cache/xla)"
    )
    p.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="per-asset baselines kept across restarts (default: serve/ beside the store)",
    )
    p.add_argument(
        "--baseline-save-s", type=float, default=300.0, help="save changed baselines this often"
    )
    p.add_argument(
        "--switch-interval-ms",
        type=float,
        default=0.5,
        help="Python's thread switch interval (the MQTT thread's wait for the GIL)",
    )


def run(args: argparse.Namespace) -> int:
    setup_logging(args.log_level)
    # paho's network thread reads each packet in several small recv calls, each releasing the
    # GIL; with the worker busy it waits up to the switch interval (5 ms) to get it back, so at
    # ~1,000 messages/s the receive side, not the CPU, fell behind (SV, issue 5). 0.5 ms lets
    # it back in promptly at a small cost in switching.
    sys.setswitchinterval(args.switch_interval_ms / 1000)
    config = load_plant(args)
    if args.api_port is not None:
        api = config.alarms.api.model_copy(update={"port": args.api_port})
        config = config.model_copy(update={"alarms": config.alarms.model_copy(update={"api": api})})
    env_cache = os.environ.get("PLANTWATCH_XLA_CACHE")  # shared by every run, e.g. the tests
    cache = args.xla_cache or (Path(env_cache) if env_cache else args.registry / ".cache" / "xla")
    import jax

    jax.config.update("jax_compilation_cache_dir", str(cache))  # restarts compile in seconds
    from models.serving.service import ScoringService, ServeSettings
    from plant.alarms.service import AlarmService
    from plant.broker.publish import speaks_mqtt5
    from plant.mqtt import BrokerUrl, connect, make_client

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    broker = BrokerUrl.parse(config.broker.url)
    password = mqtt_password()
    v5 = _wait_broker(broker, password, stop, speaks_mqtt5)
    if v5 is None:
        return 0
    client = make_client(
        broker, client_id=f"plantwatch-serve-{os.getpid()}", password=password, v5=v5,
        availability_component=COMPONENT, chunked_read=True,
    )  # fmt: skip
    client.reconnect_delay_set(min_delay=0.1, max_delay=2)
    store = str(config.store.path)  # a remote store (URI): the state stays local, in ./serve
    local = Path("serve") if "://" in store else Path(store).parent / "serve"
    state_dir = args.state_dir or local
    settings = ServeSettings(
        registry=args.registry,
        max_batch=args.max_batch,
        max_wait_ms=args.max_wait_ms,
        state_dir=state_dir,
        baseline_save_s=args.baseline_save_s,
    )
    service = ScoringService(config, settings, client=client, store_root=config.store.path)
    clock = service.readings_clock if args.clock == "readings" else time.time_ns
    alarms = AlarmService(
        config, mqtt_client=client, env=os.environ, clock=clock, explain=service.explain_latest
    )
    service.engine = alarms.engine
    alarms.engine.baseline_listeners.append(service.reset_baseline)
    online = client.on_connect

    def on_connect(c: object, u: object, f: object, rc: object, p: object = None) -> None:
        if online is not None:
            online(c, u, f, rc, p)
        if not getattr(rc, "is_failure", False):
            service.subscribe()  # again after every reconnect (clean session)

    client.on_connect = on_connect
    try:
        alarms.start()
        if alarms.generated_admin_password:
            print(f"alarm API admin password (first start): {alarms.generated_admin_password}")
        if alarms.server is not None:
            log.info("alarm API on %s:%s", config.alarms.api.host, alarms.server.port)
        connect(client, broker)
        if not args.no_rebuild and Path(config.store.path).exists():
            from ingest.store.reader import StoreReader

            service.rebuild(StoreReader(config.store.path))
        if registry_active(args.registry):
            service.poll_model(block=True)
        else:
            log.warning("no active model in %s yet: scoring starts when one is", args.registry)
        log.info("serving: %s -> health on %s", broker, "plantwatch/v1/health/...")
        service.run(stop)
    finally:
        alarms.stop()
        if client.is_connected():
            from plant import topics

            client.publish(topics.availability_topic(COMPONENT), b"offline", 1, True)
            client.disconnect()
        client.loop_stop()
        log.info(
            "stopped: %d messages, %d windows, %d health events, %d reloads, %d baseline "
            "saves, %d compilations while streaming, %d scheduled garbage collections "
            "(longest %.2f s)",
            service.stats.messages,
            service.stats.windows,
            service.stats.events,
            service.stats.reloads,
            service.stats.baseline_saves,
            service.stats.stream_compiles,
            service.heap.stats.collections,
            service.heap.stats.pause_s_max,
        )
    return 0


def registry_active(path: Path) -> bool:
    from models import registry

    return registry.active_version(path) is not None


def _wait_broker(broker, password, stop, probe) -> bool | None:  # type: ignore[no-untyped-def]
    """Whether the broker speaks MQTT 5, retrying while it is unreachable (None: stopped)."""
    delay = 0.5
    while not stop.is_set():
        try:
            return probe(broker, password)
        except ConnectionError as exc:
            log.warning("%s; retrying in %.1f s", exc, delay)
            stop.wait(delay)
            delay = min(delay * 2, 10.0)
    return None
