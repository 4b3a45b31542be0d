"""Drift per modality: how far the plant's recent inputs and scores have moved from what the active
model was trained and calibrated on (numpy, no Dash, no JAX).

**Statistic, one number per reading** (the same physics as the evidence panels):

| modality | statistic |
|---|---|
| vibration | log10 ISO 20816 velocity RMS (mm/s, 10-1000 Hz) of the snapshot, loudest channel |
| thermal | each probe's temperature minus the ambient of the latest context reading (degC) |
| camera | mean grey level of the image (0..255) |
| notes | words per note |
| score | the fused anomaly score of the health events (the scorer's output in the store) |

**Reference.** For the inputs: ``<model_dir>/drift_reference.json`` when the model directory
has one (written by :func:`save_reference`), else computed here, once per model version, from the
model's training store (the ``data`` of its manifest or metrics, or the path its model card says
it was trained on) over the training assets (``metrics.json`` ``split.train_assets``, up to
``MAX_ASSETS``) in the ``REFERENCE_S`` (1 day) before the split's test cut; at most
``MAX_PER_MODALITY`` readings per modality and side, evenly spread. For the score: the held-out
normal windows' scores of the model's conformal calibration (``calibration/scores.npz``, the
``*|*`` group: every calibration window). The reference is kept as bin edges at its deciles
(tied deciles merged, so discrete statistics such as words per note bin correctly) and its share
of readings in each bin.

**Recent.** The live store's last ``RECENT_S`` (24 h) over up to ``MAX_ASSETS`` assets, evenly
sampled from the plant's.

**Measure.** Population stability index over those bins: ``PSI = sum (r_i - q_i) ln(r_i / q_i)``,
r the recent and q the reference share of bin i, both floored at 1e-4. The usual
reading: < 0.1 no shift, 0.1-0.25 moderate, > 0.25 a significant shift (the model page colours
> 0.25). A modality with fewer than ``MIN_SAMPLES`` readings on either side has no figure.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from plant.physics.envelope import iso_velocity_rms_mm_s
from plant.readings import (
    CameraImage,
    ContextReading,
    Modality,
    OperatorNote,
    ThermalReading,
    VibrationSnapshot,
)

log = logging.getLogger(__name__)

NS = 1_000_000_000
RECENT_S = 24 * 3600
REFERENCE_S = 24 * 3600
MAX_ASSETS = 8
MAX_PER_MODALITY = 5000  # readings per modality and side, evenly spread over the period
MIN_SAMPLES = 20
N_BINS = 10
FLOOR = 1e-4
SIGNIFICANT_PSI = 0.25
REFERENCE_FILE = "drift_reference.json"
INPUTS: tuple[str, ...] = ("vibration", "thermal", "camera", "notes")


@dataclasses.dataclass(frozen=True, slots=True)
class DriftFigure:
    psi: float | None  # None: too few samples on one side
    n_reference: int
    n_recent: int


def reference_bins(sample: np.ndarray) -> dict:
    """Bin edges at the reference's deciles (ties merged) and the reference's share per bin."""
    x = np.asarray(sample, np.float64)
    edges = np.unique(np.quantile(x, np.linspace(0.1, 0.9, N_BINS - 1)))
    share = np.bincount(np.searchsorted(edges, x, "right"), minlength=len(edges) + 1) / len(x)
    return {"edges": edges.tolist(), "shares": share.tolist(), "count": len(x)}


def psi(ref: dict, recent: np.ndarray) -> float:
    """PSI of ``recent`` against a reference from :func:`reference_bins`."""
    edges = np.asarray(ref["edges"], np.float64)
    idx = np.searchsorted(edges, np.asarray(recent, np.float64), "right")
    share = np.maximum(np.bincount(idx, minlength=len(edges) + 1) / max(1, len(recent)), FLOOR)
    base = np.maximum(np.asarray(ref["shares"], np.float64), FLOOR)
    return float(np.sum((share - base) * np.log(share / base)))


def _thin(values: list[float]) -> np.ndarray:
    """At most MAX_PER_MODALITY values, evenly spread (the store returns them in time order)."""
    x = np.asarray(values, np.float64)
    if len(x) <= MAX_PER_MODALITY:
        return x
    return x[np.linspace(0, len(x) - 1, MAX_PER_MODALITY).astype(np.int64)]


def _log_velocity(snap: VibrationSnapshot) -> float:
    vel = iso_velocity_rms_mm_s(np.asarray(snap.samples, np.float64), float(snap.sample_rate_hz))
    return float(np.log10(max(1e-6, float(np.max(vel)))))


def _note_words(text: str) -> float:
    return float(len(re.findall(r"\S+", text)))


def statistics(reader, assets: Sequence[str], start_ns: int, end_ns: int) -> dict[str, np.ndarray]:
    """The per-reading statistic of each input modality over ``assets`` in [start, end)."""
    assets = list(assets)
    vib = [
        _log_velocity(r)
        for r in reader.readings(Modality.VIBRATION, assets, start_ns, end_ns)
        if isinstance(r, VibrationSnapshot)
    ]
    ctx = sorted(
        (r for r in reader.readings(Modality.CONTEXT, assets, start_ns - 600 * NS, end_ns)
         if isinstance(r, ContextReading)),
        key=lambda r: r.header.ts_ns,
    )  # fmt: skip
    ambient: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for a in assets:
        mine = [c for c in ctx if c.header.asset == a]
        ambient[a] = (
            np.array([c.header.ts_ns for c in mine], np.int64),
            np.array([c.ambient_c for c in mine], np.float64),
        )
    thermal = []
    for r in reader.readings(Modality.THERMAL, assets, start_ns, end_ns):
        ts, amb = ambient.get(r.header.asset, (np.zeros(0, np.int64), np.zeros(0)))
        i = int(np.searchsorted(ts, r.header.ts_ns, "right")) - 1
        if i >= 0 and isinstance(r, ThermalReading):
            thermal += [float(v) - amb[i] for v in r.values_c.values()]
    camera = [
        float(np.asarray(r.pixels, np.float64).mean())
        for r in reader.readings(Modality.CAMERA, assets, start_ns, end_ns)
        if isinstance(r, CameraImage)
    ]
    notes = [
        _note_words(r.text)
        for r in reader.readings(Modality.NOTES, assets, start_ns, end_ns)
        if isinstance(r, OperatorNote)
    ]
    return {
        "vibration": _thin(vib),
        "thermal": _thin(thermal),
        "camera": _thin(camera),
        "notes": _thin(notes),
    }


def reference_document(stats: dict[str, np.ndarray], source: str) -> dict:
    """What :func:`save_reference` writes: bins, shares and counts per modality."""
    return {
        "format_version": 1,
        "source": source,
        "statistic": {
            "vibration": "log10 ISO velocity RMS mm/s",
            "thermal": "probe minus ambient degC",
            "camera": "mean grey level",
            "notes": "words per note",
        },
        "modalities": {m: reference_bins(x) for m, x in stats.items() if len(x) >= MIN_SAMPLES},
    }


def save_reference(model_dir: Path, reader, assets: Sequence[str], start_ns: int, end_ns: int):
    """Write ``<model_dir>/drift_reference.json`` from training data (for ``plantwatch train``)."""
    doc = reference_document(statistics(reader, assets, start_ns, end_ns), str(reader.root))
    (Path(model_dir) / REFERENCE_FILE).write_text(json.dumps(doc, indent=1))
    return doc


def training_store(model_dir: Path, manifest: dict, metrics: dict) -> Path | None:
    """Where the model's training data is, as the model directory records it (None: unknown)."""
    named = manifest.get("data") or metrics.get("data")
    if not named:
        card = model_dir / "model_card.md"
        m = re.search(r"trained on: `([^`]+)`", card.read_text()) if card.is_file() else None
        named = m.group(1) if m else None
    path = Path(named) if named else None
    return path if path is not None and path.is_dir() else None


def reference_from_training(model_dir: Path, manifest: dict, metrics: dict) -> dict | None:
    """The input reference: the model directory's own, else computed from its training store."""
    own = model_dir / REFERENCE_FILE
    if own.is_file():
        return json.loads(own.read_text())
    store = training_store(model_dir, manifest, metrics)
    split = metrics.get("split") or {}
    if store is None or not split.get("train_assets") or not split.get("cut_ns"):
        return None
    from ingest.store.reader import StoreReader

    reader = StoreReader(store)
    assets = _spread(list(split["train_assets"]), MAX_ASSETS)
    end = int(split["cut_ns"])
    doc = reference_document(statistics(reader, assets, end - REFERENCE_S * NS, end), str(store))
    log.info(
        "drift reference of %s computed from %s (%d assets)", model_dir.name, store, len(assets)
    )
    return doc


def score_reference(model_dir: Path) -> np.ndarray | None:
    """Every held-out normal window's score of the model's calibration (``*|*``), or None."""
    cal = model_dir / "calibration" / "calibration.json"
    if not cal.is_file():
        return None
    groups = json.loads(cal.read_text()).get("groups", {})
    g = groups.get("*|*")
    if not g:
        return None
    with np.load(model_dir / "calibration" / "scores.npz", allow_pickle=False) as z:
        flat = np.asarray(z["scores"], np.float64)
    return flat[g["offset"] : g["offset"] + g["count"]]


def _spread(items: list[str], n: int) -> list[str]:
    if len(items) <= n:
        return items
    return [items[int(i)] for i in np.linspace(0, len(items) - 1, n)]


def drift(
    reference: dict | None,
    score_ref: np.ndarray | None,
    reader,
    assets: Sequence[str],
    now_ns: int,
) -> dict[str, DriftFigure]:
    """PSI per input modality and for the fused score, recent vs reference."""
    sample = _spread(list(assets), MAX_ASSETS)
    start = now_ns - RECENT_S * NS
    out: dict[str, DriftFigure] = {}
    if reference is not None:
        recent = statistics(reader, sample, start, now_ns)
        for m in INPUTS:
            ref = reference.get("modalities", {}).get(m)
            n_ref = int(ref["count"]) if ref else 0
            x = recent[m]
            ok = ref is not None and len(x) >= MIN_SAMPLES
            out[m] = DriftFigure(psi(ref, x) if ok else None, n_ref, len(x))
    if score_ref is not None and len(score_ref) >= MIN_SAMPLES:
        scores = np.array([e.anomaly_score for e in reader.health_events(sample, start, now_ns)])
        ok = len(scores) >= MIN_SAMPLES
        out["score"] = DriftFigure(
            psi(reference_bins(score_ref), scores) if ok else None, len(score_ref), len(scores)
        )
    return out
