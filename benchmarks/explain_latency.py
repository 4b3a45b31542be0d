"""Time to explain one alarm on this CPU: exact 16-coalition Shapley + evidence per modality.

    nice -n 10 .venv/bin/python benchmarks/explain_latency.py [--model DIR] [--runs 50] [--json F]

Uses ``--model`` (default: the path in data/BEST_MODEL when it exists, else a freshly initialised
model at the default ModelConfig: latency does not depend on the weights' values). One window with
all four modalities at the benchmark plant's sizes (3 x 12,800 samples, 64 x 64 image, a shift-log
note of 20 words). Reports the first call (compilation included) and the median and p95 of
``--runs`` later calls, each a full ``Explainer.explain`` (batch assembly, features, encoders,
gradients, 16 coalitions, note occlusion, JSON-able formatting). Target: <= 200 ms.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ingest.window import ThermalSeries, Window
from plant.config.assets import BearingGeometry
from plant.readings import (
    CameraImage,
    ContextReading,
    Header,
    MachineState,
    Modality,
    OperatorNote,
    VibrationSnapshot,
)

NOTE = (
    "DE brg noisy since last shift, grinding at times, smell of hot oil near coupling. "
    "chk lube & temp next round, vib pen reads hi on NDE"
)


def alarm_window(seed: int = 0) -> Window:
    rng = np.random.default_rng(seed)
    t0 = 1_780_000_000 * 10**9
    fs, n, speed = 12_800.0, 12_800, 24.5
    h = Header("PA-001", "vib-de", t0, 1, 0)
    t = np.arange(n) / fs
    x = 0.3 * np.sin(2 * np.pi * speed * t) + 0.05 * rng.normal(size=(3, n))
    x += (1 + np.cos(2 * np.pi * 3.58 * speed * t)) * 0.3 * np.sin(2 * np.pi * 3000 * t)
    k = 64
    thermal = ThermalSeries(
        ts_ns=t0 - np.arange(k)[::-1].astype(np.int64) * 10 * 10**9,
        channels=("bearing_de", "bearing_nde", "winding"),
        temperature_c=(55 + rng.normal(0, 0.3, (k, 3))).astype(np.float32),
        load_fraction=np.full(k, 0.8, np.float32),
        ambient_c=np.full(k, 22.0, np.float32),
        shaft_speed_hz=np.full(k, speed, np.float32),
        running=np.ones(k, bool),
    )
    return Window(
        asset="PA-001",
        asset_type="motor-pump",
        ts_ns=t0,
        vibration=VibrationSnapshot(h, fs, ("x", "y", "z"), x.astype(np.float32)),
        thermal=thermal,
        camera=CameraImage(h, rng.integers(0, 255, (64, 64, 3)).astype(np.uint8)),
        notes=(OperatorNote(Header("PA-001", "log", t0 - 3600 * 10**9, 1, 0), NOTE),),
        context=ContextReading(h, speed, 0.8, 22.0, MachineState.RUNNING),
        staleness_s={m: 0.0 for m in Modality if m is not Modality.CONTEXT},
    )


def load_scorer(model: Path | None):
    from flax import nnx

    from models.config import ModelConfig
    from models.model import FusionModel, count_params
    from models.scoring import Scorer

    best = Path(__file__).resolve().parent.parent / "data" / "BEST_MODEL"
    if model is None and best.is_file():
        model = Path(best.read_text().strip())
    if model is not None:
        s = Scorer.load(model)
        return s, str(model)
    cfg = ModelConfig()
    m = FusionModel(cfg, nnx.Rngs(params=0))
    return Scorer(m, cfg, "random-init"), f"fresh default ModelConfig ({count_params(m)} params)"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    from models.explain import Explainer

    scorer, what = load_scorer(args.model)
    ex = Explainer(scorer)
    w = alarm_window()
    bearing = BearingGeometry(n_elements=9, ball_diameter_mm=7.94, pitch_diameter_mm=39.04)
    t = time.perf_counter()
    doc = ex.explain(w, bearing=bearing, shaft_hz=24.5)
    first = time.perf_counter() - t
    times = []
    for _ in range(args.runs):
        t = time.perf_counter()
        doc = ex.explain(w, bearing=bearing, shaft_hz=24.5)
        times.append(time.perf_counter() - t)
    json.dumps(doc, allow_nan=False)
    ms = np.array(times) * 1e3
    out = {
        "model": what,
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "runs": args.runs,
        "first_call_ms_incl_compile": round(first * 1e3, 1),
        "median_ms": round(float(np.median(ms)), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
        "max_ms": round(float(ms.max()), 2),
        "target_ms": 200,
        "primary": doc["primary"],
        "peak_label": doc["evidence"]["vibration"]["peak_label"],
    }
    text = json.dumps(out, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
