"""``plantwatch simulate``: publish the simulated plant live over MQTT."""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from plant.cli.common import add_service_options, load_plant, mqtt_password, setup_logging
from plant.mqtt import BrokerUrl

log = logging.getLogger("plantwatch.simulate")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_service_options(p, store=False)
    p.add_argument("--seed", type=int, default=0, help="same seed, same plant data")
    p.add_argument("--multiply", type=int, default=1, help="every asset family N times larger")
    p.add_argument(
        "--speedup", type=float, default=1.0, help="plant seconds per wall second (0: no pacing)"
    )
    p.add_argument(
        "--duration", type=float, default=None, help="plant seconds to publish (default: forever)"
    )
    p.add_argument("--start-ns", type=int, default=None, help="plant start time (default: now)")
    p.add_argument("--component", default="simulator", help="name on the availability topic")
    p.add_argument("--window", type=int, default=1000, help="unacknowledged messages at most")
    p.add_argument(
        "--templates",
        action="store_true",
        help="scale mode: each asset replays readings simulated for a few representatives of "
        "its family, at its configured rates (for --multiply benchmarks; see plant/sim/fanout.py)",
    )


def run(args: argparse.Namespace) -> int:
    setup_logging(args.log_level)
    config = load_plant(args)
    if args.multiply > 1:
        config = config.multiplied(args.multiply)
    if args.speedup < 0 or args.window < 1:
        log.error(
            "--speedup must be >= 0 and --window >= 1 (got %s, %s)", args.speedup, args.window
        )
        return 2
    try:
        broker = BrokerUrl.parse(config.broker.url)
    except ValueError as exc:
        log.error("%s", exc)
        return 2
    from plant.sim.publisher import LiveSettings, simulate_live

    settings = LiveSettings(
        seed=args.seed,
        start_ns=args.start_ns,
        speedup=args.speedup,
        duration_s=args.duration,
        component=args.component,
        window=args.window,
        templates=args.templates,
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        stats, drained = simulate_live(config, broker, settings, stop, mqtt_password())
    except ConnectionError as exc:
        log.error("%s", exc)
        return 1
    print(f"published {stats.total} messages: {stats.summary()}")
    return 0 if drained else 1
