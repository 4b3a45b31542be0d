"""``plantwatch evaluate --model DIR --data DIR --json FILE``: the figures of issue 4 as JSON.

Test assets and test period only (the split recorded in the model's ``metrics.json``); the
alarm figures come from replaying the scored windows through the live alarm engine. ``--save``
also copies the JSON to ``<model>/evaluation.json`` (the dashboard's model page reads it);
``--baselines`` trains the late- and early-fusion variants (into ``<model>/baselines/``) and fits
the classical baseline in the same run; ``--shifted DIR`` adds the shifted-conditions store.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
from pathlib import Path

from plant.cli.common import load_plant, setup_logging

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, required=True, help="model directory (or a registry)")
    p.add_argument("--data", type=Path, required=True, help="store the model was trained on")
    p.add_argument("--json", type=Path, required=True, help="where to write the figures")
    p.add_argument("--config", type=Path, default=Path("configs/plant.toml"), help="plant TOML")
    p.add_argument("--save", action="store_true", help="also write <model>/evaluation.json")
    p.add_argument("--baselines", action="store_true", help="late/early fusion and classical")
    p.add_argument("--shifted", type=Path, help="store generated with --shift (same plant)")
    p.add_argument("--classical-windows", type=int, default=1500, help="normal windows to fit")
    p.add_argument(
        "--variant-epochs", type=int, help="epochs for the late/early variants (default: model's)"
    )
    p.add_argument("--explain-limit", type=int, default=2000, help="windows explained at most")
    p.add_argument(
        "--new-plant",
        action="store_true",
        help="--data is another plant than the one trained on (e.g. the benchmark plant, "
        "generated with its own seed): every window of it is test data, whatever its asset ids",
    )
    p.add_argument("--log-level", default="INFO")


def run(args: argparse.Namespace) -> int:
    setup_logging(args.log_level)
    plant = load_plant(args)
    from models import registry
    from models.evaluate import evaluate
    from models.metrics import json_safe

    model = args.model
    if not (model / "weights.msgpack").is_file():  # a registry: its active model
        active = registry.active_model(model)
        if active is None:
            print(f"{model}: neither a model directory nor a registry with an active model")
            return 1
        model = active
    doc = evaluate(
        model,
        args.data,
        plant,
        baselines=args.baselines,
        shifted=args.shifted,
        classical_windows=args.classical_windows,
        explain_limit=args.explain_limit,
        variant_epochs=args.variant_epochs,
        new_plant=args.new_plant,
    )
    text = json.dumps(json_safe(doc), indent=1, allow_nan=False)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(text)
    if args.save:
        shutil.copyfile(args.json, model / "evaluation.json")
    summary = {k: doc[k] for k in ("auroc", "false_alarms_per_asset_day", "recall_before_failure")}
    print(json.dumps(json_safe(summary), indent=1, allow_nan=False))
    return 0
