"""Fused windows scored per second, features included, full path and incremental path.

  nice -n 10 .venv/bin/python benchmarks/scoring_throughput.py [--model DIR] [--json FILE]

Full path: raw snapshot -> order/envelope spectra -> four encoders -> fusion, at batch 1, 64,
1024. Incremental path: one modality re-encoded from its raw input, the others' cached tokens
reused, fusion rerun (``Scorer.score_incremental``). Each figure is the median of 3 runs; FLOPs
and bytes per window come from XLA's cost analysis of the compiled function.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import jax
import numpy as np
from flax import nnx

from models.batch import Batch, empty_batch
from models.config import ModelConfig
from models.model import FusionModel
from models.scoring import Scorer, incremental_step, score_step
from plant.readings import MODEL_MODALITIES


def realistic_batch(cfg: ModelConfig, n: int, seed: int = 0) -> Batch:
    rng = np.random.default_rng(seed)
    b = empty_batch(cfg.inputs, n)
    b.vibration[:] = rng.normal(0, 0.5, b.vibration.shape).astype(np.float32)
    b.shaft_speed_hz[:] = rng.uniform(10, 50, n)
    b.thermal_c[:] = rng.normal(45, 2, b.thermal_c.shape)
    b.probe_mask[:, :3] = True
    b.thermal_ctx[:] = [0.8, 22.0, 25.0, 1.0]
    b.image[:] = rng.integers(0, 255, b.image.shape)
    b.note_ids[:, :40] = rng.integers(1, cfg.inputs.note_vocab, (n, 40))
    b.present[:] = True
    return b


def rate(fn, n_windows: int, min_s: float = 1.0) -> float:
    """Windows per second of ``fn`` (already compiled), over at least ``min_s``."""
    jax.block_until_ready(fn())
    calls, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < min_s:
        jax.block_until_ready(fn())
        calls += 1
    return calls * n_windows / (time.perf_counter() - t0)


def median3(fn, n: int) -> float:
    return statistics.median(rate(fn, n) for _ in range(3))


def cost_per_window(scorer: Scorer, b: Batch) -> dict:
    lowered = score_step.lower(scorer.graphdef, scorer.state, b, b.present, scorer.cfg, False)
    ca = lowered.compile().cost_analysis()
    ca = ca[0] if isinstance(ca, list) else ca
    n = len(b.present)
    return {"flops": ca.get("flops", 0.0) / n, "bytes": ca.get("bytes accessed", 0.0) / n}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="model directory (default: an untrained model, same shapes)")
    p.add_argument("--json", help="write the figures here")
    p.add_argument("--sizes", default="1,64,1024")
    args = p.parse_args()
    if args.model:
        scorer = Scorer.load(args.model)
    else:
        cfg = ModelConfig()
        scorer = Scorer(FusionModel(cfg, nnx.Rngs(0)), cfg)
    out: dict = {
        "device": str(jax.devices()[0]),
        "machine": platform.processor() or "cpu",
        "full": {},
        "incremental": {},
    }
    g, st, cfg = scorer.graphdef, scorer.state, scorer.cfg
    for n in (int(s) for s in args.sizes.split(",")):
        b = realistic_batch(scorer.cfg, n)
        out["full"][n] = median3(lambda b=b: score_step(g, st, b, b.present, cfg)[0], n)
        ids = [f"A{i:05d}" for i in range(n)]
        scorer.prime(ids, b)
        slots = scorer._slot_ids(ids)
        per_mod = {}
        for m, name in enumerate(m.value for m in MODEL_MODALITIES):

            def step(b=b, m=m, slots=slots):
                scorer._cache, s, _ = incremental_step(g, st, scorer._cache, slots, b, cfg, m)
                return s

            per_mod[name] = median3(step, n)
        out["incremental"][n] = per_mod
        print(
            f"batch {n:5d}: full {out['full'][n]:10.0f} windows/s; incremental "
            + ", ".join(f"{k} {v:.0f}/s" for k, v in per_mod.items()),
            flush=True,
        )
    out["cost_per_window"] = cost_per_window(scorer, realistic_batch(scorer.cfg, 64))
    print(json.dumps(out["cost_per_window"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
