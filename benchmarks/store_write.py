"""The Parquet ceiling: how fast pyarrow writes the same readings to the store with no MQTT.

    nice -n 10 .venv/bin/python benchmarks/store_write.py [--seconds 5] [--json out.json]

One of the two baselines the ingest benchmark compares against (DESIGN.md section 7): readings
already decoded, written through the store's own :class:`ingest.store.StoreWriter` (same schema,
byte-stream-split + zstd 1, partitioning, fsync + rename) into a temporary directory. Reported
per workload: messages/s, MB/s of wire payload (the same bytes an MQTT path would carry, so
the figures compare directly), and MB/s of Parquet written. ``measure_parquet_ceiling`` is the
function the ingest benchmark imports.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ingest.store import StoreWriter
from plant.codec import encode
from plant.readings import Header, Reading, ThermalReading, VibrationSnapshot

T0 = 1_763_900_000_000_000_000
NS_PER_S = 1_000_000_000


@dataclasses.dataclass(frozen=True)
class Ceiling:
    workload: str
    messages: int
    seconds: float
    messages_per_s: float
    payload_mb_per_s: float  # wire payload bytes (plant.codec.encode) per second, 1e6 B
    parquet_mb_per_s: float  # bytes on disk per second
    parquet_bytes: int


def scalar_readings(n: int, assets: int = 1000) -> list[Reading]:
    """Thermal messages as the benchmark plant sends them (~150 B JSON each)."""
    rng = np.random.default_rng(0)
    temps = rng.normal(50, 5, size=(n, 3))
    return [
        ThermalReading(
            Header(
                f"A-{i % assets:05d}", "temp", T0 + (i // assets) * 10 * NS_PER_S, 1, i // assets
            ),
            {"bearing_de": temps[i, 0], "bearing_nde": temps[i, 1], "winding": temps[i, 2]},
        )
        for i in range(n)
    ]


def vibration_readings(n: int, assets: int = 100, samples: int = 12_800) -> list[Reading]:
    """Triaxial 1 s snapshots at 12.8 kHz (~150 KB each), as DESIGN.md section 7 specifies."""
    rng = np.random.default_rng(1)
    base = rng.normal(0, 1, size=(3, samples)).astype(np.float32)
    out: list[Reading] = []
    for i in range(n):
        x = np.roll(base, i * 7, axis=1) * np.float32(1 + 0.01 * (i % 13))  # distinct per message
        h = Header(
            f"A-{i % assets:05d}", "vib", T0 + (i // assets) * 600 * NS_PER_S, 1, i // assets
        )
        out.append(VibrationSnapshot(h, 12_800.0, ("x", "y", "z"), x))
    return out


def measure_parquet_ceiling(
    readings: Sequence[Reading],
    workload: str = "readings",
    *,
    root: str | Path | None = None,
    payload_bytes: int | None = None,
) -> Ceiling:
    """Write ``readings`` through StoreWriter into ``root`` (a fresh temp dir by default, removed
    afterwards) and time it, publish (fsync + rename) included."""
    if payload_bytes is None:
        payload_bytes = sum(len(encode(r)) for r in readings)
    tmp = Path(tempfile.mkdtemp(prefix="pw-ceiling-")) if root is None else Path(root)
    try:
        start = time.perf_counter()
        with StoreWriter(tmp) as writer:
            writer.write(readings, ingest_ns=T0)
        seconds = time.perf_counter() - start
        on_disk = sum(f.stat().st_size for f in tmp.rglob("*.parquet"))
    finally:
        if root is None:
            shutil.rmtree(tmp, ignore_errors=True)
    n = len(readings)
    return Ceiling(
        workload,
        n,
        round(seconds, 4),
        round(n / seconds, 1),
        round(payload_bytes / seconds / 1e6, 2),
        round(on_disk / seconds / 1e6, 2),
        on_disk,
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scalars", type=int, default=200_000, help="thermal messages")
    p.add_argument("--snapshots", type=int, default=1_000, help="vibration snapshots")
    p.add_argument("--repeat", type=int, default=3, help="runs per workload; the median is kept")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args()
    results = []
    for name, readings in (
        ("scalar (thermal JSON ~150 B)", scalar_readings(args.scalars)),
        ("vibration (3 x 12,800 float32)", vibration_readings(args.snapshots)),
    ):
        payload = sum(len(encode(r)) for r in readings)
        runs = [
            measure_parquet_ceiling(readings, name, payload_bytes=payload)
            for _ in range(args.repeat)
        ]
        best = sorted(runs, key=lambda c: c.seconds)[len(runs) // 2]
        results.append(dataclasses.asdict(best))
        print(json.dumps(results[-1]))
    if args.json:
        args.json.write_text(json.dumps({"cpus": os.cpu_count(), "results": results}, indent=1))


if __name__ == "__main__":
    main()
