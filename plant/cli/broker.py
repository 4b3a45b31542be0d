"""``plantwatch broker``: Mosquitto with a generated config, or the embedded broker without it."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path

from plant.broker import embedded
from plant.broker.exposure import BrokerSecurityError
from plant.broker.mosquitto import MosquittoBroker, MosquittoSettings, mosquitto_executable
from plant.cli.common import DEFAULT_CONFIG, setup_logging
from plant.config import BrokerConfig, ConfigError, load_config

log = logging.getLogger("plantwatch.broker")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, default=1883)
    p.add_argument("--bind", default="127.0.0.1", help="address to listen on (default loopback)")
    p.add_argument(
        "--data-dir", type=Path, default=Path("data/broker"), help="persistence, config, log"
    )
    p.add_argument("--embedded", action="store_true", help="the embedded broker even if Mosquitto")
    p.add_argument(
        "--config",
        type=Path,
        default=None,
        help=f"plant TOML for [broker] sizing ({DEFAULT_CONFIG})",
    )
    embedded.add_auth_arguments(p)
    p.add_argument("--log-level", default="INFO")


def run(args: argparse.Namespace) -> int:
    setup_logging(args.log_level)
    auth = embedded.auth_from_args(args)
    url = f"mqtt{'s' if auth.tls else ''}://{args.bind}:{args.port}"
    if args.embedded or mosquitto_executable() is None:
        if not args.embedded:
            log.warning("mosquitto is not installed: starting the embedded broker instead")
        log.info("broker: embedded (amqtt) on %s", url)
        return embedded.run(args.bind, args.port, auth)
    broker_config = _broker_config(args.config)
    settings = MosquittoSettings.from_config(
        broker_config, port=args.port, bind=args.bind, data_dir=args.data_dir, auth=auth
    )
    try:
        broker = MosquittoBroker(settings)
        broker.start()
    except (BrokerSecurityError, RuntimeError, TimeoutError) as exc:
        log.error("%s", exc)
        return 2 if isinstance(exc, BrokerSecurityError) else 1
    log.info("broker: mosquitto (PID %s) on %s, data in %s", broker.pid, url, args.data_dir)
    return _supervise(broker)


def _broker_config(path: Path | None) -> BrokerConfig:
    if path is None:
        return BrokerConfig()
    try:
        return load_config(path).broker
    except ConfigError as exc:
        log.error("%s", exc)
        raise SystemExit(2) from None


def _supervise(broker: MosquittoBroker) -> int:
    """Wait for SIGINT/SIGTERM (exit 0) or for Mosquitto to die on its own (exit 1)."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    assert broker.proc is not None
    while not stop.wait(0.2):
        if broker.proc.poll() is not None:
            log.error(
                "mosquitto PID %s exited on its own with status %s; see %s",
                broker.pid,
                broker.proc.returncode,
                broker.settings.data_dir / "mosquitto.log",
            )
            return 1
    broker.stop()
    return 0
