"""An Explainer-shaped stand-in for the dashboard tests: contract #2's document from real windows.

Same call as ``models.explain.Explainer(scorer).explain(window, asset_type=, bearing=,
shaft_hz=)``, so a test switches to the real one by changing one constructor. The dashboard
scenario has no trained model (minutes of CPU, another engineer's part), so the numbers come from
the injected fault's ground truth and the window's real readings:

- shapley: the fault's primary modality 0.6, other modalities it is visible in 0.1, the rest
  -0.02, absent ones 0; ``base`` 0.05 and ``score`` = base + sum (the contract's identity).
- vibration: the 8 strongest peaks of the real envelope spectrum (plant/physics/envelope.py),
  labelled with the bearing defect frequency or shaft harmonic they fall on (within 3 %).
- thermal: each probe's rise over the first quarter of the look-back; weight = positive part.
- camera: an 8x8 grid, each patch's mean deviation from the image's median, scaled to 0..1.
- notes: the words of the (already redacted) notes, weighted by a fault vocabulary.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from ingest.window import Window
from plant.labels import FaultEpisode
from plant.physics.bearing import BearingGeometry, defect_frequencies
from plant.physics.envelope import envelope_spectrum
from plant.readings import Modality

MODALITIES = ("vibration", "thermal", "camera", "notes")
FAULT_WORDS = {
    "noisy": 0.9, "noise": 0.9, "grinding": 0.8, "bearing": 0.7, "brg": 0.7, "hot": 0.6,
    "vibration": 0.6, "rough": 0.5, "smell": 0.4, "de": 0.2,
}  # fmt: skip
GRID = (8, 8)


class GroundTruthExplainer:
    def __init__(self, episodes: list[FaultEpisode]) -> None:
        self.episodes = episodes

    def explain(
        self,
        window: Window,
        asset_type: str = "",
        bearing: BearingGeometry | None = None,
        shaft_hz: float | None = None,
    ) -> dict[str, Any]:
        ep = next(
            (
                e
                for e in self.episodes
                if e.asset == window.asset and e.onset_ns < window.ts_ns < e.repair_ns
            ),
            None,
        )
        present = {m.value: p for m, p in window.present.items()}
        shapley = {m: _share(m, ep) if present.get(m) else 0.0 for m in MODALITIES}
        base = 0.05
        evidence: dict[str, Any] = {}
        if window.vibration is not None and bearing is not None and shaft_hz:
            evidence["vibration"] = _vibration(window, bearing, shaft_hz)
        if window.thermal is not None and len(window.thermal.ts_ns):
            evidence["thermal"] = _thermal(window)
        if window.camera is not None:
            evidence["camera"] = _camera(window)
        if window.notes:
            evidence["notes"] = _notes(window)
        return {
            "shapley": shapley,
            "base": base,
            "score": base + sum(shapley.values()),
            "primary": max(shapley, key=shapley.__getitem__),
            "evidence": evidence,
        }


def _share(m: str, ep: FaultEpisode | None) -> float:
    if ep is None:
        return -0.02
    if m == ep.primary.value:
        return 0.6
    return 0.1 if Modality(m) in ep.visible_in else -0.02


def _vibration(w: Window, bearing: BearingGeometry, shaft_hz: float) -> dict[str, Any]:
    x = np.asarray(w.vibration.samples, dtype=np.float64)  # (C, N)
    env = envelope_spectrum(x[int(np.argmax(x.std(axis=1)))], float(w.vibration.sample_rate_hz))
    f, a = env.freqs_hz, env.amplitude
    keep = (f > 0.5 * shaft_hz) & (f < 12 * shaft_hz)
    f, a = f[keep], a[keep]
    named = {}
    for k, v in defect_frequencies(bearing, shaft_hz).markers().items():
        for n in (1, 2, 3):
            label = f"{n}x" if k == "1x" else (k if n == 1 else f"{n}x{k}")
            named.setdefault(label, n * v)
    peaks = [i for i in range(1, len(a) - 1) if a[i] >= a[i - 1] and a[i] >= a[i + 1]]
    top = sorted(peaks, key=lambda i: -a[i])[:8]
    total = float(sum(a[i] for i in top)) or 1.0
    bands = []
    for i in top:
        label = min(named, key=lambda k: abs(named[k] - f[i]))
        if abs(named[label] - f[i]) > 0.03 * named[label]:
            label = ""
        bands.append(
            {
                "hz": float(f[i]),
                "order": float(f[i] / shaft_hz),
                "weight": float(a[i] / total),
                "label": label,
            }
        )
    return {"bands": bands, "peak_hz": bands[0]["hz"], "peak_label": bands[0]["label"]}


def _thermal(w: Window) -> dict[str, Any]:
    t = w.thermal.temperature_c.astype(np.float64)  # (T, P)
    ref = np.nanmedian(t[: max(1, len(t) // 4)], axis=0)
    residual = np.nanmax(t - ref, axis=1)
    return {
        "ts_ns": [int(x) for x in w.thermal.ts_ns],
        "residual_c": [float(r) for r in residual],
        "weight": [float(max(r, 0.0)) for r in residual],
    }


def _camera(w: Window) -> dict[str, Any]:
    img = np.asarray(w.camera.pixels, dtype=np.float64).mean(axis=-1)  # (H, W)
    dev = np.abs(img - np.median(img))
    rows, cols = GRID
    h, wd = img.shape[0] // rows, img.shape[1] // cols
    patches = dev[: h * rows, : wd * cols].reshape(rows, h, cols, wd).mean(axis=(1, 3))
    peak = patches.max() or 1.0
    return {"grid": [rows, cols], "saliency": [float(v) for v in (patches / peak).ravel()]}


def _notes(w: Window) -> dict[str, Any]:
    tokens = []
    for note in w.notes:
        for word in re.findall(r"[A-Za-z]+", note.text):
            tokens.append({"text": word, "weight": FAULT_WORDS.get(word.lower(), -0.01)})
    return {"tokens": tokens}
