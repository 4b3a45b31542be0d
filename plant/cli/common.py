"""Options every service shares (``--config``, ``--broker``, ``--store``) and their handling."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from plant.config import ConfigError, PlantConfig, load_config

DEFAULT_CONFIG = Path("configs/plant.toml")
EXIT_CONFIG = 2


def add_service_options(p: argparse.ArgumentParser, *, store: bool = True) -> None:
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="the plant's TOML file")
    p.add_argument(
        "--broker", help="mqtt[s]://[user@]host:port (password: PLANTWATCH_MQTT_PASSWORD)"
    )
    if store:
        p.add_argument("--store", help="store path or pyarrow filesystem URI")
    p.add_argument("--log-level", default=os.environ.get("PLANTWATCH_LOG", "INFO"))


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def load_plant(args: argparse.Namespace) -> PlantConfig:
    """Load ``--config`` and apply ``--broker``/``--store``; exit 2 with the problems if invalid."""
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None
    updates = {}
    if getattr(args, "broker", None):
        updates["broker"] = config.broker.model_copy(update={"url": args.broker})
    if getattr(args, "store", None):
        updates["store"] = config.store.model_copy(update={"path": args.store})
    return config.model_copy(update=updates) if updates else config


def mqtt_password() -> str | None:
    """The broker password, read from the environment here, at the entry point only."""
    return os.environ.get("PLANTWATCH_MQTT_PASSWORD")
