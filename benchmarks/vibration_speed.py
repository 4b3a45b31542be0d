"""Speed of the simulated accelerometer over the benchmark plant's vibration sensors.

    nice -n 10 .venv/bin/python benchmarks/vibration_speed.py [--snapshots 300]

Wall time is per snapshot (p50, p99) on whatever else the machine is doing; CPU time is this
process's. `benchmarks/simulator_vs_real.py` puts this line into docs/SIMULATOR.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from plant.config import load_config
from plant.labels import FaultClass
from plant.sim.vibration import VibrationModel

REPO = Path(__file__).resolve().parent.parent


def speed_line(snapshots: int = 300) -> str:
    """Wall and CPU time per snapshot over the benchmark plant's vibration sensors."""
    plant = load_config(REPO / "configs" / "benchmark.toml")
    models = [
        VibrationModel(a, s)
        for a in plant.resolved_assets
        for s in a.sensors
        if s.modality == "vibration"
    ]
    rng = np.random.default_rng(0)
    faults = ({}, {FaultClass.BEARING_INNER: 0.5}, {FaultClass.IMBALANCE: 0.3})
    wall: list[float] = []
    cpu0 = time.process_time()
    for k in range(snapshots):
        m = models[k % len(models)]
        t0 = time.perf_counter()
        m.snapshot(m.base.ref_shaft_hz * 0.98, 0.7, faults[k % 3], rng)
        wall.append(time.perf_counter() - t0)
    cpu_ms = (time.process_time() - cpu0) / snapshots * 1e3
    per_day = len(models) * 86_400 / models[0].sensor.period_s
    return (
        f"Speed: {snapshots} snapshots (3 x {models[0].n} samples) over the benchmark plant's "
        f"{len(models)} vibration sensors: wall p50 {np.median(wall) * 1e3:.2f} ms, p99 "
        f"{np.percentile(wall, 99) * 1e3:.2f} ms, CPU {cpu_ms:.2f} ms per snapshot; a simulated "
        f"day ({per_day:,.0f} snapshots) takes about {per_day * np.median(wall) / 60:.1f} min."
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snapshots", type=int, default=300)
    print(speed_line(parser.parse_args().snapshots))
