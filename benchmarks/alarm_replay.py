"""Alarm engine replay speed and the false-alarm rate of its k-of-m rule on a normal week.

Replays a simulated normal week of the benchmark plant (calibrated p-values of healthy machines
are uniform on [0, 1]) through the live engine: events/s in memory (journal batched) and with the
SQLite journal on disk, alarms per asset-day with the count of asset-days, and floods.

    nice -n 10 .venv/bin/python benchmarks/alarm_replay.py --config configs/benchmark.toml
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from plant.alarms.replay import replay
from plant.config import load_config
from plant.events import HealthEvent

NS = 1_000_000_000
T0 = 1_795_000_000 * NS
PRESENT = {"vibration": True, "thermal": True, "camera": True, "notes": True}


def normal_week(asset_ids: list[str], interval_s: float, days: float, seed: int) -> list:
    rng = np.random.default_rng(seed)
    steps = int(days * 86_400 / interval_s)
    p = rng.uniform(0, 1, (steps, len(asset_ids)))
    return [
        HealthEvent(a, T0 + int(i * interval_s * NS), 90.0, 0.1, float(p[i, j]), "normal", 0.9,
                    PRESENT, {}, "bench")
        for i in range(steps)
        for j, a in enumerate(asset_ids)
    ]  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=Path("configs/benchmark.toml"))
    ap.add_argument("--interval-s", type=float, default=60.0, help="scoring interval per asset")
    ap.add_argument("--days", type=float, default=7.0)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    config = load_config(args.config)
    assets = [a.id for a in config.resolved_assets]
    events = normal_week(assets, args.interval_s, args.days, args.seed)
    out: dict = {"assets": len(assets), "events": len(events), "interval_s": args.interval_s}
    start = time.perf_counter()
    result = replay(config, events)
    out["memory_events_per_s"] = round(len(events) / (time.perf_counter() - start))
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        replay(config, events, journal_path=Path(tmp) / "journal.sqlite")
        out["sqlite_events_per_s"] = round(len(events) / (time.perf_counter() - start))
    out["asset_days"] = round(result.asset_days, 1)
    out["machine_alarms"] = len(result.machine())
    out["alarms_per_asset_day"] = result.machine_alarms_per_asset_day
    out["floods"] = result.floods
    p = config.alarms.persistence
    out["rule"] = {"k": p.k, "m": p.m, "alpha": p.alpha, "slot_s": p.slot_s}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
