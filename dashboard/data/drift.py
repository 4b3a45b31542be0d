"""Drift per modality: how far the plant's recent inputs and scores have moved from what the active
model was trained and calibrated on (numpy and the models' featurisation, no Dash).

**Reference, written by training.** ``plantwatch train`` writes ``<model_dir>/drift_reference.json``
(``models/drift.py``, format 2, basis "window features"): per input modality one statistic per
training window, from the model's own input features (log10 RMS acceleration over the physical
bands, loudest channel; newest probe minus ambient temperature; mean grey level of the model's
image; note tokens the model reads), and the fused scores of the held-out normal windows the
conformal calibration used. The recent side then assembles windows from the live store at
``RECENT_TIMES`` (16) evenly spaced times over the last ``RECENT_S`` (24 h) for up to
``WINDOW_ASSETS`` (24) assets spread over the plant, and featurises them exactly as training did
(``models.drift.statistics_of_windows``), so both sides are the same statistic of the same
pipeline.

**Older models (format 1, or no file).** A model directory without a reference (trained before
``plantwatch train`` wrote one) gets one computed here, once per model version, from the raw
readings of its training store (the ``data`` of its manifest or metrics, or the path its model
card says it was trained on) over the training assets (``metrics.json`` ``split.train_assets``, up
to ``MAX_ASSETS``) in the ``REFERENCE_S`` (1 day) before the split's test cut; at most
``MAX_PER_MODALITY`` readings per modality and side, evenly spread. One statistic per reading:

| modality | statistic |
|---|---|
| vibration | log10 ISO 20816 velocity RMS (mm/s, 10-1000 Hz) of the snapshot, loudest channel |
| thermal | each probe's temperature minus the ambient of the latest context reading (degC) |
| camera | mean grey level of the image (0..255) |
| notes | words per note |

and the recent side reads the same statistic from the live store's raw readings. The score
reference then comes from the calibration (``calibration/scores.npz``, the ``*|*`` group).

**Measure.** Population stability index over the reference's decile bins (tied deciles merged,
so discrete statistics bin correctly): ``PSI = sum (r_i - q_i) ln(r_i / q_i)``, r the recent
and q the reference share of bin i, both floored at 1e-4. The usual reading: < 0.1 no shift,
0.1-0.25 moderate, > 0.25 a significant shift (the model page colours > 0.25). A modality with
fewer than ``MIN_SAMPLES`` windows or readings on either side has no figure.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from models.drift import BASIS, psi, reference_bins
from models.drift import REFERENCE_FILE as REFERENCE_FILE
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
# window-feature references: recent windows of WINDOW_ASSETS assets spread over the plant at
# RECENT_TIMES times each. The spread over assets matters more than over time (vibration levels
# differ from asset to asset): on the lead's 60-asset training store, its own last day against
# the reference gave vibration PSI 1.31 with 8 assets x 48 times, 0.13 with 24 x 16 and 0.09
# with 60 x 8 (43 s, 59 s for the last two there, loaded machine: reading the day's waveforms)
WINDOW_ASSETS = 24
RECENT_TIMES = 16
SIGNIFICANT_PSI = 0.25
INPUTS: tuple[str, ...] = ("vibration", "thermal", "camera", "notes")


@dataclasses.dataclass(frozen=True, slots=True)
class DriftFigure:
    psi: float | None  # None: too few samples on one side
    n_reference: int
    n_recent: int


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
    """A format-1 reference (raw readings' statistics): bins, shares and counts per modality."""
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


def recent_window_statistics(
    plant, reader, assets: Sequence[str], now_ns: int, model_cfg
) -> dict[str, np.ndarray]:
    """Format-2 statistics of the recent period: windows of ``assets`` at ``RECENT_TIMES`` evenly
    spaced times over the last ``RECENT_S`` (or the store's span, if younger), assembled and
    featurised as training does."""
    from ingest.assembly import iter_windows
    from models.batch import ASSET_TYPES
    from models.drift import statistics_of_windows

    span = reader.time_range() if hasattr(reader, "time_range") else None
    first = max(now_ns - RECENT_S * NS, span[0] if span else 0)  # a younger store: its span
    times = np.linspace(first, now_ns, RECENT_TIMES).astype(np.int64)
    windows = [
        w
        for w in iter_windows(plant, reader, list(assets), times)
        if w is not None and w.asset_type in ASSET_TYPES
    ]
    return statistics_of_windows(windows, model_cfg)


def drift(
    reference: dict | None,
    score_ref: np.ndarray | None,
    reader,
    assets: Sequence[str],
    now_ns: int,
    *,
    plant=None,
    model_cfg=None,
) -> dict[str, DriftFigure]:
    """PSI per input modality and for the fused score, recent vs reference.

    A format-2 reference (``basis`` "window features", written by ``plantwatch train``) needs the
    plant config and the model's ``ModelConfig`` to assemble and featurise recent windows; its
    score bins, when present, are used instead of ``score_ref``."""
    mods = (reference or {}).get("modalities", {})
    windows = reference is not None and reference.get("basis") == BASIS
    sample = _spread(list(assets), WINDOW_ASSETS if windows else MAX_ASSETS)
    start = now_ns - RECENT_S * NS
    out: dict[str, DriftFigure] = {}
    if reference is not None:
        if windows:
            if plant is None or model_cfg is None:
                raise ValueError("a window-feature reference needs the plant and model config")
            recent = recent_window_statistics(plant, reader, sample, now_ns, model_cfg)
        else:
            recent = statistics(reader, sample, start, now_ns)
        for m in INPUTS:
            ref = mods.get(m)
            n_ref = int(ref["count"]) if ref else 0
            x = recent[m]
            ok = ref is not None and len(x) >= MIN_SAMPLES
            out[m] = DriftFigure(psi(ref, x) if ok else None, n_ref, len(x))
    score_bins = mods.get("score")
    if score_bins is None and score_ref is not None and len(score_ref) >= MIN_SAMPLES:
        score_bins = reference_bins(score_ref)
    if score_bins is not None:
        scores = np.array([e.anomaly_score for e in reader.health_events(sample, start, now_ns)])
        ok = len(scores) >= MIN_SAMPLES
        out["score"] = DriftFigure(
            psi(score_bins, scores) if ok else None, int(score_bins["count"]), len(scores)
        )
    return out
