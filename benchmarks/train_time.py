"""Training time to target on a generated plant (fused validation AUROC >= --target).

  plantwatch generate --config configs/benchmark.toml --days 1 --seed 7 --out /tmp/bench-data
  nice -n 10 .venv/bin/python benchmarks/train_time.py --data /tmp/bench-data \
      --config configs/benchmark.toml [--runs 3] [--epochs 12] [--json FILE]

Windows are assembled and featurised once (cached under --work); each run trains from the cache
with a different seed. Reported: seconds to the first epoch reaching the target (median of runs),
total training seconds, and the test figures of each run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from models.config import load_model_config
from models.store_data import load_store_dataset
from models.train import train_and_evaluate
from plant.config import load_config


def time_to_target(log_path: Path, target: float) -> float | None:
    for line in log_path.read_text().splitlines():
        rec = json.loads(line)
        if rec["val_auroc"] >= target:
            return float(rec["elapsed_s"])
    return None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--config", type=Path, default=Path("configs/benchmark.toml"))
    p.add_argument("--model-config", type=Path)
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "pw-train-time")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--epochs", type=int)
    p.add_argument("--target", type=float, default=0.99)
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    plant = load_config(args.config)
    base = load_model_config(args.model_config, epochs=args.epochs)
    t0 = time.perf_counter()
    ds = load_store_dataset(args.data, plant, base, cache_dir=args.work / "cache")
    prep_s = time.perf_counter() - t0
    runs = []
    for r in range(args.runs):
        cfg = base.model_copy(update={"train": base.train.model_copy(update={"seed": r})})
        out = args.work / f"run{r}"
        _, result = train_and_evaluate(cfg, out, ds)
        runs.append(
            {
                "seed": r,
                "train_seconds": result["train_seconds"],
                "seconds_to_target": time_to_target(out / "train_log.jsonl", args.target),
                "test": result["test"],
            }
        )
        print(json.dumps(runs[-1], default=float), flush=True)
    hit = [x["seconds_to_target"] for x in runs if x["seconds_to_target"] is not None]
    summary = {
        "windows": len(ds),
        "prepare_seconds": prep_s,
        "median_train_seconds": statistics.median(x["train_seconds"] for x in runs),
        "median_seconds_to_target": statistics.median(hit) if len(hit) == len(runs) else None,
        "runs_reaching_target": len(hit),
        "runs": runs,
    }
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}, default=float))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1, default=float))


if __name__ == "__main__":
    main()
