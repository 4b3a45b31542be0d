"""How much faster than real time ``plantwatch generate`` writes the benchmark plant.

    nice -n 10 .venv/bin/python benchmarks/generate_speed.py [--hours 24] [--workers 2]

Runs the real command path (simulator -> ingest's StoreWriter -> Parquet, labels, truth) into a
temporary directory, removed afterwards, and prints messages per modality, wall time, the
speed-up over real time, and the bytes written. Target (issue 2): > 60x real time for
``configs/benchmark.toml`` on the 2-core development machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
from pathlib import Path

from plant.cli.common import setup_logging
from plant.cli.generate import DEFAULT_START, generate, parse_start
from plant.config import load_config

NS_PER_S = 1_000_000_000


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="configs/benchmark.toml")
    p.add_argument("--hours", type=float, default=24.0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    setup_logging("WARNING")
    config = load_config(args.config)
    out = Path(tempfile.mkdtemp(prefix="pw-generate-"))
    try:
        summary = generate(
            config,
            out,
            parse_start(DEFAULT_START),
            int(args.hours * 3600 * NS_PER_S),
            args.seed,
            workers=args.workers,
        )
        size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    finally:
        shutil.rmtree(out, ignore_errors=True)
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = resource.getrusage(resource.RUSAGE_SELF)
    cpu_s = cpu.ru_utime + cpu.ru_stime + own.ru_utime + own.ru_stime
    simulated_s = args.hours * 3600
    summary.update(
        cpu_s=round(cpu_s, 1),
        # CPU seconds are what contention does not inflate: the speed-up a quiet machine with
        # ``workers`` free cores would give is simulated time / (CPU time / workers).
        speedup_if_cores_free=round(simulated_s / (cpu_s / max(1, args.workers)), 1),
        load_average=os.getloadavg(),
        config=args.config,
        workers=args.workers,
        bytes_written=size,
        cpus=os.cpu_count(),
        messages_total=sum(summary["messages"].values()),
    )
    summary["messages_per_s"] = round(summary["messages_total"] / summary["wall_s"])
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
