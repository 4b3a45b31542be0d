"""``plantwatch train --data DIR --out REGISTRY``: train a model from the store and register it.

``--config`` is the plant's TOML (as for every service); ``--model-config`` the model's
(``[inputs]``, ``[arch]``, ``[train]``; defaults otherwise). The new version is registered and
made active only with ``--promote`` or when no model is active yet.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

from plant.cli.common import EXIT_CONFIG, load_plant, setup_logging

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, required=True, help="store written by generate/ingest")
    p.add_argument("--out", type=Path, required=True, help="model registry folder")
    p.add_argument("--config", type=Path, default=Path("configs/plant.toml"), help="plant TOML")
    p.add_argument("--model-config", type=Path, help="model TOML ([inputs], [arch], [train])")
    p.add_argument("--epochs", type=int, help="override [train].epochs")
    p.add_argument("--batch-size", type=int, help="override [train].batch_size")
    p.add_argument("--max-windows", type=int, help="override [train].max_windows")
    p.add_argument("--interval-s", type=float, help="override [train].interval_s")
    p.add_argument("--promote", action="store_true", help="make the new model active")
    p.add_argument("--log-level", default="INFO")


def run(args: argparse.Namespace) -> int:
    setup_logging(args.log_level)
    plant = load_plant(args)
    from models.config import load_model_config
    from plant.config import ConfigError

    try:
        cfg = load_model_config(
            args.model_config,
            epochs=args.epochs,
            batch_size=args.batch_size,
            max_windows=args.max_windows,
            interval_s=args.interval_s,
        )
    except ConfigError as exc:
        print(exc)
        return EXIT_CONFIG
    import jax

    # compiled steps are reused by the next training run (STACK.md: 4.7 s -> 1.0 s)
    cache = os.environ.get("PLANTWATCH_XLA_CACHE") or str(args.out / ".cache" / "xla")
    jax.config.update("jax_compilation_cache_dir", cache)
    from models import registry
    from models.metrics import json_safe
    from models.store_data import load_store_dataset
    from models.train import train_and_evaluate

    ds = load_store_dataset(args.data, plant, cfg, cache_dir=args.out / ".cache")
    version_dir = registry.new_version_dir(args.out)
    _, result = train_and_evaluate(cfg, version_dir, ds)
    registry.write_model_card(version_dir, result, str(args.data))
    if args.promote or registry.active_version(args.out) is None:
        registry.promote(args.out, version_dir.name)
    active = registry.active_version(args.out)
    print(
        json.dumps(
            json_safe({"version": version_dir.name, "active": active, "test": result["test"]}),
            indent=1,
            allow_nan=False,
        )
    )
    return 0
