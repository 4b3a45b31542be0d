"""``plantwatch generate``: write an offline dataset in the store layout, with ground truth.

The simulator's readings go through ingest's :class:`~ingest.store.StoreWriter`, the same writer
the live path checkpoints into, so an offline dataset and a live one are the same thing. Beside
the readings: the labels (``write_labels``) and ``truth.json`` (per asset: episodes, missing
modality, clock skews, stuck sensors, notes by kind; and the fault table). With ``--workers 2``
the assets are split between two processes, each writing its own files into the same store; the
data are identical to a one-process run (every asset has its own random sub-streams).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import logging
import multiprocessing
import time
from pathlib import Path

from plant.cli.common import load_plant, setup_logging
from plant.config import PlantConfig
from plant.labels import FaultClass, FaultEpisode
from plant.readings import Modality

log = logging.getLogger("plantwatch.generate")

NS_PER_S = 1_000_000_000
DEFAULT_START = "2026-01-05T00:00:00Z"  # a Monday; a fixed default keeps datasets reproducible
TRUTH_FILE = "truth.json"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, default=Path("configs/plant.toml"), help="plant TOML")
    p.add_argument("--days", type=float, required=True, help="simulated days to write")
    p.add_argument("--seed", type=int, default=0, help="random seed (>= 0)")
    p.add_argument("--out", type=Path, required=True, help="store root to write")
    p.add_argument("--start", default=DEFAULT_START, help="UTC start, ISO 8601")
    p.add_argument("--shift", action="store_true", help="shifted operating conditions")
    p.add_argument("--workers", type=int, default=2, help="processes (assets split between them)")
    p.add_argument("--log-level", default="INFO")


@dataclasses.dataclass(frozen=True, slots=True)
class Job:
    """What one generating process does."""

    config_json: str
    seed: int
    start_ns: int
    end_ns: int
    shift: bool
    out: str
    assets: tuple[str, ...]
    worker: int


def parse_start(text: str) -> int:
    t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return int(t.timestamp()) * NS_PER_S


def run(args: argparse.Namespace) -> int:
    setup_logging(args.log_level)
    config = load_plant(args)
    if args.days <= 0 or args.seed < 0 or args.workers < 1:
        log.error("need --days > 0, --seed >= 0, --workers >= 1")
        return 2
    try:
        start_ns = parse_start(args.start)
    except ValueError as exc:
        log.error("--start %r is not an ISO 8601 time: %s", args.start, exc)
        return 2
    summary = generate(
        config,
        args.out,
        start_ns,
        int(args.days * 86_400 * NS_PER_S),
        args.seed,
        args.shift,
        args.workers,
    )
    print(json.dumps(summary, indent=1))
    return 0


def generate(
    config: PlantConfig,
    out: Path,
    start_ns: int,
    duration_ns: int,
    seed: int,
    shift: bool = False,
    workers: int = 2,
) -> dict:
    """Write the dataset; return a summary (counts per modality, seconds, speed-up)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ids = [a.id for a in config.resolved_assets]
    workers = max(1, min(workers, len(ids)))
    cfg = config.model_dump_json()
    jobs = [
        Job(cfg, seed, start_ns, start_ns + duration_ns, shift, str(out), tuple(ids[w::workers]), w)
        for w in range(workers)
    ]
    t0 = time.perf_counter()
    if workers == 1:
        parts = [run_job(jobs[0])]
    else:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            parts = pool.map(run_job, jobs)
    wall_s = time.perf_counter() - t0
    truth = merge_truth([json.loads((out / p).read_text()) for p in parts])
    for p in parts:
        (out / p).unlink()
    (out / TRUTH_FILE).write_text(json.dumps(truth, indent=1))
    from ingest.store import write_labels

    write_labels(out, episodes_from_truth(truth))
    counts: dict[str, int] = {}
    for part in truth.pop("_counts"):
        for k, v in part.items():
            counts[k] = counts.get(k, 0) + v
    return {
        "out": str(out),
        "assets": len(ids),
        "days": duration_ns / (86_400 * NS_PER_S),
        "messages": counts,
        "episodes": sum(len(a["episodes"]) for a in truth["assets"].values()),
        "wall_s": round(wall_s, 1),
        "speedup_vs_real_time": round(duration_ns / NS_PER_S / wall_s, 1),
    }


def run_job(job: Job) -> str:
    """Simulate ``job.assets`` and write their readings; return the name of its truth file."""
    from ingest.store import StoreWriter
    from plant.sim.plant import CHUNK_NS, PlantSimulator

    if not logging.getLogger().handlers:  # a spawned worker
        setup_logging("INFO")
    config = PlantConfig.model_validate_json(job.config_json)
    sim = PlantSimulator(config, job.seed, job.start_ns, job.shift, frozenset(job.assets))
    counts = dict.fromkeys((m.value for m in Modality), 0)
    began = time.perf_counter()
    with StoreWriter(job.out, prefix=f"gen{job.worker}") as writer:
        t = job.start_ns
        while t < job.end_ns:
            t1 = min(job.end_ns, t + CHUNK_NS)
            pairs = list(sim.messages(t1))  # publish time = the store's ingest time, as if live
            readings = [r for _, r in pairs]
            for r in readings:
                counts[r.modality.value] += 1
            writer.write_with_ingest_ns(readings, [pub for pub, _ in pairs])
            t = t1
            done_s = (t - job.start_ns) / NS_PER_S
            log.info(
                "worker %d: %.1f h simulated, %d messages, %.0fx real time",
                job.worker,
                done_s / 3600,
                sum(counts.values()),
                done_s / max(time.perf_counter() - began, 1e-9),
            )
    truth = sim.truth()
    truth["_counts"] = [counts]
    name = f".truth-{job.worker}.json"
    Path(job.out, name).write_text(json.dumps(truth))
    return name


def merge_truth(parts: list[dict]) -> dict:
    merged = dict(parts[0])
    merged["assets"] = {}
    merged["_counts"] = []
    for p in parts:
        merged["assets"].update(p["assets"])
        merged["_counts"] += p["_counts"]
    merged["assets"] = dict(sorted(merged["assets"].items()))
    return merged


def episodes_from_truth(truth: dict) -> list[FaultEpisode]:
    out = []
    for asset, a in truth["assets"].items():
        for e in a["episodes"]:
            out.append(
                FaultEpisode(
                    asset=asset,
                    fault=FaultClass(e["fault"]),
                    onset_ns=e["onset_ns"],
                    failure_ns=e["failure_ns"],
                    repair_ns=e["repair_ns"],
                    visible_in=frozenset(Modality(m) for m in e["visible_in"]),
                    primary=Modality(e["primary"]),
                    growth_exponent=e["growth_exponent"],
                    onset_severity=e.get("onset_severity", 0.0),
                )
            )
    return out
