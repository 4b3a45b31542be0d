"""Does a growing plant make the live scorer recompile? (issue 5: compiled shapes)

The live scorer of ``plantwatch serve`` (``models.serving.live.LiveScorer``, warmed as serve
warms it) scores windows for ``--minutes`` of wall time while the plant grows: every
``--every`` seconds ``--step`` more assets of the benchmark plant (multiplied) join
(``LiveScorer.add_assets``). Windows are real simulator windows of one asset per family
(``plantwatch``'s window assembly over 40 plant minutes), given each asset's id, a random
trigger modality and the current time; ``--rate`` windows per second in batches every 0.5 s.

Every XLA compilation is counted (``models.serving.compiles.CompileCounter``, jax.monitoring):
the documented growth steps (the incremental cache doubles when the asset count crosses a power
of two minus one; ``add_assets`` then compiles the incremental path at every bucket before any
window) versus compilations anywhere else, which must be 0.

    nice -n 10 .venv/bin/python benchmarks/serve_growth.py --minutes 10 --json FILE
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
S = 1_000_000_000


def template_windows(config, seconds: float = 2400.0) -> dict[str, list]:  # type: ignore[no-untyped-def]
    """Per asset family (type x profile), windows of its first asset, one per trigger modality
    seen in the last simulated minutes (the window assembly's own windows)."""
    from ingest.assembly import WindowAssembler
    from plant.sim.plant import PlantSimulator

    first: dict[str, str] = {}
    for a in config.resolved_assets:
        first.setdefault(a.config.id, a.id)
    start = 1_790_000_000 * S
    sim = PlantSimulator(config, 3, start, assets=frozenset(first.values()), step_s=60)
    asm = WindowAssembler(config)
    latest: dict[tuple[str, object], object] = {}
    for r in sim.readings(start + int(seconds * S)):
        w = asm.add(r)
        if w is not None and w.ts_ns > start + int(seconds * S) // 2:
            latest[(w.asset, w.trigger)] = w
    by_id = {v: k for k, v in first.items()}
    out: dict[str, list] = {}
    for (asset, _), w in latest.items():
        out.setdefault(by_id[asset], []).append(w)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", type=Path, default=REPO / "configs" / "benchmark.toml")
    p.add_argument("--model", type=Path, default=None)
    p.add_argument("--start", type=int, default=200, help="assets at load")
    p.add_argument("--step", type=int, default=100, help="assets added each --every s")
    p.add_argument("--every", type=float, default=60.0)
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--rate", type=float, default=40.0, help="windows per second")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    model = args.model
    if model is None:
        best = REPO / "data" / "BEST_MODEL"
        if not best.is_file():
            p.error("no --model and no data/BEST_MODEL")
        model = Path(best.read_text().strip())
    import jax

    jax.config.update(
        "jax_compilation_cache_dir", str(Path(tempfile.gettempdir()) / "plantwatch-e2e-xla")
    )
    from models.serving.compiles import CompileCounter
    from models.serving.live import LiveScorer
    from plant.config import load_config

    base = load_config(args.config)
    final = args.start + args.step * int(args.minutes * 60 // args.every)
    factor = -(-final // len(base.resolved_assets))
    assets = base.multiplied(factor).resolved_assets[:final]
    templates = template_windows(base)
    family = {a.id: a.config.id for a in assets}
    t0 = time.perf_counter()
    live = LiveScorer(model, assets[: args.start])
    load_s = time.perf_counter() - t0
    counter = CompileCounter().start()
    rng = np.random.default_rng(0)
    n_assets, growth, batch_s, scored, outside = args.start, [], [], 0, {}
    end = time.monotonic() + args.minutes * 60
    next_growth = time.monotonic() + args.every
    while time.monotonic() < end:
        tick = time.monotonic()
        if tick >= next_growth and n_assets < final:
            before = counter.snapshot()
            g0 = time.perf_counter()
            grew = live.add_assets(assets[n_assets : n_assets + args.step])
            n_assets = min(final, n_assets + args.step)
            compiled = {k: v - before.get(k, 0) for k, v in counter.snapshot().items()
                        if v != before.get(k, 0)}  # fmt: skip
            growth.append({"assets": n_assets, "capacity": live.scorer.capacity, "grew": grew,
                           "seconds": round(time.perf_counter() - g0, 2),
                           "compiles": compiled})  # fmt: skip
            logging.info("growth: %s", growth[-1])
            next_growth += args.every
        k = max(1, int(args.rate * 0.5))
        ids = rng.choice(n_assets, size=k, replace=False)
        now = time.time_ns()
        wins = []
        for i in ids:
            a = assets[int(i)]
            pool = templates[family[a.id]]
            w = pool[int(rng.integers(len(pool)))]
            wins.append(dataclasses.replace(w, asset=a.id, ts_ns=now))
        before = counter.snapshot()
        b0 = time.perf_counter()
        events = live.score(wins)
        batch_s.append(time.perf_counter() - b0)
        scored += len(events)
        for name, v in counter.snapshot().items():
            if v != before.get(name, 0):
                outside[name] = outside.get(name, 0) + v - before.get(name, 0)
                logging.warning("compilation while scoring: %s", name)
        time.sleep(max(0.0, 0.5 - (time.monotonic() - tick)))
    counter.stop()
    result = {
        "model": str(model),
        "minutes": args.minutes,
        "assets_at_load": args.start,
        "assets_at_end": n_assets,
        "buckets": list(live.scorer.buckets),
        "load_and_warm_s": round(load_s, 1),
        "capacity_at_end": live.scorer.capacity,
        "growth_steps": growth,
        "windows_scored": scored,
        "batch_p50_s": round(float(np.percentile(batch_s, 50)), 4),
        "batch_p99_s": round(float(np.percentile(batch_s, 99)), 4),
        "compiles_while_scoring": outside,
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
