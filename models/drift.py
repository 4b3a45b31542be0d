"""The drift reference of a model: what its inputs and scores looked like when it was trained.

``plantwatch train`` writes ``<model_dir>/drift_reference.json`` (:func:`save_reference`) at the
end of training; the dashboard's model page (dashboard/data/drift.py) compares the plant's recent
windows against it with the population stability index. Numpy only (no Dash, no JAX here; the
recent side featurises its windows with the training path, :func:`statistics_of_windows`).

**Statistic, one number per window and modality**, computed from the model's own input features
(``models.model.Features``, the arrays training reads), so training and live windows go through
the same window assembly and featurisation:

| modality | statistic |
|---|---|
| vibration | log10 RMS acceleration (m/s2), physical bands 10 Hz-10 kHz, loudest channel |
| thermal | each probe's newest temperature minus the newest ambient (degC) |
| camera | mean grey level of the model's image (0..255) |
| notes | tokens the model reads from the window's notes (at most ``inputs.note_tokens``) |
| score | the fused anomaly score (held-out normal windows: the conformal calibration's) |

Only windows where the modality is present count. The reference is kept as bin edges at its
deciles (tied deciles merged, so discrete statistics such as token counts bin correctly) and its
share of windows in each bin; at most ``MAX_PER_MODALITY`` windows per modality, evenly spread.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

REFERENCE_FILE = "drift_reference.json"
FORMAT_VERSION = 2  # 1: statistics of raw store readings (dashboard/data/drift.py, older models)
BASIS = "window features"
INPUTS: tuple[str, ...] = ("vibration", "thermal", "camera", "notes")
STATISTIC = {
    "vibration": "log10 RMS acceleration m/s2, 10 Hz-10 kHz, loudest channel",
    "thermal": "newest probe temperature minus newest ambient degC",
    "camera": "mean grey level of the model image",
    "notes": "note tokens the model reads per window",
    "score": "fused anomaly score",
}
N_BINS = 10
FLOOR = 1e-4
MIN_SAMPLES = 20
MAX_PER_MODALITY = 5000
EPS_AMP = 1e-6  # models.features.EPS_AMP: added before the log10 of each band's amplitude


def reference_bins(sample: np.ndarray) -> dict[str, Any]:
    """Bin edges at the sample's deciles (ties merged) and the sample's share per bin."""
    x = np.asarray(sample, np.float64)
    edges = np.unique(np.quantile(x, np.linspace(0.1, 0.9, N_BINS - 1)))
    share = np.bincount(np.searchsorted(edges, x, "right"), minlength=len(edges) + 1) / len(x)
    return {"edges": edges.tolist(), "shares": share.tolist(), "count": len(x)}


def psi(ref: dict[str, Any], recent: np.ndarray) -> float:
    """Population stability index of ``recent`` against a reference from :func:`reference_bins`:
    ``sum (r_i - q_i) ln(r_i / q_i)``, both shares floored at ``FLOOR``."""
    edges = np.asarray(ref["edges"], np.float64)
    idx = np.searchsorted(edges, np.asarray(recent, np.float64), "right")
    share = np.maximum(np.bincount(idx, minlength=len(edges) + 1) / max(1, len(recent)), FLOOR)
    base = np.maximum(np.asarray(ref["shares"], np.float64), FLOOR)
    return float(np.sum((share - base) * np.log(share / base)))


def thin(x: np.ndarray, limit: int = MAX_PER_MODALITY) -> np.ndarray:
    """At most ``limit`` values, evenly spread over ``x`` (kept in its order)."""
    x = np.asarray(x, np.float64)
    if len(x) <= limit:
        return x
    return x[np.linspace(0, len(x) - 1, limit).astype(np.int64)]


def window_statistics(features: Any) -> dict[str, np.ndarray]:
    """The per-window statistic of each input modality (table above) from ``Features`` arrays
    (numpy; the raw, unstandardised spectra ``featurize`` returns). Absent modalities and
    non-finite values are left out."""
    present = np.asarray(features.present, bool)
    vib = np.asarray(features.vib, np.float64)[present[:, 0], :, 2, :]  # (n, C, K) phys bands
    amp = np.maximum(10.0**vib - EPS_AMP, 0.0)
    rms = np.sqrt(np.sum(amp**2, axis=-1)).max(axis=-1)  # per-band amplitudes are RMS values
    vibration = np.log10(np.maximum(rms, 1e-9))
    th = present[:, 1]
    temp = np.asarray(features.thermal_c, np.float64)[th, -1, :]  # (n, P) newest point
    ambient = np.asarray(features.thermal_ctx, np.float64)[th, -1, 1]
    mask = np.asarray(features.probe_mask, bool)[th]
    thermal = (temp - ambient[:, None])[mask]
    img = np.asarray(features.image)[present[:, 2]]
    camera = img.reshape(len(img), -1).mean(axis=1, dtype=np.float64)
    notes = (np.asarray(features.note_ids)[present[:, 3]] != 0).sum(axis=1).astype(np.float64)
    out = {"vibration": vibration, "thermal": thermal, "camera": camera, "notes": notes}
    return {m: thin(x[np.isfinite(x)]) for m, x in out.items()}


def statistics_of_windows(windows: Sequence[Any], cfg: Any) -> dict[str, np.ndarray]:
    """:func:`window_statistics` of ``ingest.window.Window`` objects, featurised the way
    training featurises its windows (``models.dataset.build_dataset``; JAX, compiled once)."""
    if not windows:
        return {m: np.zeros(0) for m in INPUTS}
    from models.dataset import build_dataset

    return window_statistics(build_dataset(windows, [], cfg).features)


def reference_document(
    stats: dict[str, np.ndarray], scores: np.ndarray | None, source: str
) -> dict[str, Any]:
    """What :func:`save_reference` writes: bins, shares and counts per modality (and score);
    a modality with fewer than ``MIN_SAMPLES`` windows is left out."""
    parts = dict(stats)
    if scores is not None:
        s = np.asarray(scores, np.float64)
        parts["score"] = thin(s[np.isfinite(s)])
    return {
        "format_version": FORMAT_VERSION,
        "basis": BASIS,
        "source": source,
        "statistic": STATISTIC,
        "modalities": {m: reference_bins(x) for m, x in parts.items() if len(x) >= MIN_SAMPLES},
    }


def save_reference(
    model_dir: str | Path,
    features: Any,
    scores: np.ndarray | None,
    source: str = "training windows",
) -> dict[str, Any]:
    """Write ``<model_dir>/drift_reference.json`` from the training windows' ``features`` and the
    scores of held-out normal windows (``plantwatch train`` calls this; returns the document)."""
    doc = reference_document(window_statistics(features), scores, source)
    (Path(model_dir) / REFERENCE_FILE).write_text(json.dumps(doc, indent=1))
    return doc
