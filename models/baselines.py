"""Baselines the hybrid model must beat (issue 4), measured in the same evaluation run.

- **classical**: an isolation forest (Liu, Ting & Zhou 2008; numpy, no scikit-learn) on hand-crafted
  features of the raw window, the condition-monitoring practitioner's toolbox: vibration RMS,
  kurtosis and crest factor; envelope-spectrum peak-to-median ratios at 1x, BPFO, BPFI and the
  ball-defect rate (2xBSF) from the asset's bearing geometry; order-spectrum 1x and 2x amplitudes;
  the temperature residual from a linear normal-behaviour model (per asset type and probe, fitted
  on normal training windows) and its trend; image brightness, contrast, edge energy and dark
  fraction; counts of abnormal-condition keywords in the notes. A missing modality's features take
  the training median (the forest then sees a typical value). Fitted on normal training windows
  only (it is an anomaly detector, like the model's normal-behaviour objective).
- **late fusion only** / **early fusion only**: the same network and trainer with
  ``arch.fusion = "late" | "early"`` (models/fusion.py), trained on the same split.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ingest.window import Window
from models.notes_text import normalise
from plant.config import PlantConfig
from plant.physics.bearing import defect_frequencies
from plant.physics.envelope import crest_factor, kurtosis, rms

log = logging.getLogger(__name__)

_KEYWORD_TEXT = """noise noisy loud grinding rattle rattling knocking squeal squealing vibration
vibrating shaking hot heat overheating smell smoke burning leak leaking leaks oil drip dripping
crack cracked rust rusty corrosion corroded loose missing broken damaged worn wear seal abnormal
high check investigate"""
KEYWORDS = frozenset(_KEYWORD_TEXT.split())
FEATURES = (
    "vib_rms",
    "vib_kurtosis",
    "vib_crest",
    "env_1x",
    "env_bpfo",
    "env_bpfi",
    "env_ball",
    "order_1x",
    "order_2x",
    "temp_resid_max",
    "temp_resid_mean",
    "temp_trend",
    "img_mean",
    "img_std",
    "img_edges",
    "img_dark",
    "note_keywords",
    "note_words",
)
ENV_BAND_HZ = (1000.0, 6000.0)


# --- hand-crafted features ---------------------------------------------------------------------
def _envelope_spectrum(x: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    n = x.shape[-1]
    spec = np.fft.rfft(x - x.mean(-1, keepdims=True), axis=-1)
    f = np.fft.rfftfreq(n, 1.0 / fs)
    keep = (f >= ENV_BAND_HZ[0]) & (f <= min(ENV_BAND_HZ[1], 0.45 * fs))
    analytic = np.zeros((*x.shape[:-1], n), complex)
    analytic[..., : len(f)] = 2 * spec * keep
    env = np.abs(np.fft.ifft(analytic, axis=-1))
    es = np.abs(np.fft.rfft(env - env.mean(-1, keepdims=True), axis=-1)).mean(0)
    return f, es


def _peak_ratio(f: np.ndarray, spec: np.ndarray, target_hz: float) -> float:
    """log of the largest amplitude within +-2 % of target over the spectrum's median."""
    if not 0 < target_hz < f[-1]:
        return 0.0
    sel = np.abs(f - target_hz) <= max(0.02 * target_hz, f[1])
    med = float(np.median(spec[1:])) + 1e-12
    return float(np.log((spec[sel].max() if sel.any() else 0.0) / med + 1e-12))


def classical_features(w: Window, plant: PlantConfig) -> np.ndarray:
    """The hand-crafted feature vector of one window (NaN where a modality is absent)."""
    out = np.full(len(FEATURES), np.nan)
    asset = plant.asset(w.asset)
    speed = float(w.context.shaft_speed_hz) if w.context is not None else 0.0
    if w.vibration is not None and w.vibration.samples.shape[-1] > 16:
        x = np.asarray(w.vibration.samples, np.float64)
        fs = float(w.vibration.sample_rate_hz)
        out[0], out[1], out[2] = rms(x).mean(), kurtosis(x).max(), crest_factor(x).max()
        f, es = _envelope_spectrum(x, fs)
        if speed > 0:
            d = defect_frequencies(asset.config.bearing, speed) if asset is not None else None
            out[3] = _peak_ratio(f, es, speed)
            if d is not None:
                out[4] = _peak_ratio(f, es, d.bpfo_hz)
                out[5] = _peak_ratio(f, es, d.bpfi_hz)
                out[6] = _peak_ratio(f, es, d.ball_defect_hz)
            amp = np.abs(np.fft.rfft(x - x.mean(-1, keepdims=True), axis=-1)).mean(0)
            out[7] = _peak_ratio(f, amp, speed)
            out[8] = _peak_ratio(f, amp, 2 * speed)
    # 9-11 (temperature residual) need the normal-behaviour fit: ClassicalBaseline fills them
    if w.camera is not None:
        g = np.asarray(w.camera.pixels, np.float64).mean(-1)
        out[12], out[13] = g.mean(), g.std()
        out[14] = np.abs(np.diff(g, axis=0)).mean() + np.abs(np.diff(g, axis=1)).mean()
        out[15] = float((g < 50).mean())
    if w.notes:
        words = [x for n in w.notes for x in normalise(n.text)]
        out[16] = sum(x in KEYWORDS for x in words)
        out[17] = len(words)
    return out


def thermal_rows(w: Window) -> tuple[np.ndarray, np.ndarray] | None:
    """(regressors (T, 5), temperatures (T, P)) of a window's thermal series, or None."""
    th = w.thermal
    if th is None or len(th.ts_ns) == 0:
        return None
    x = np.stack(
        [
            np.ones(len(th.ts_ns)),
            th.load_fraction,
            th.ambient_c,
            th.shaft_speed_hz / 100.0,
            th.running.astype(np.float64),
        ],
        -1,
    )
    return x, np.asarray(th.temperature_c, np.float64)


# --- isolation forest (numpy) -----------------------------------------------------------------
def _c(n: np.ndarray | float) -> np.ndarray:
    """Average path length of an unsuccessful BST search over n points (the forest's norm)."""
    n = np.asarray(n, np.float64)
    h = np.log(np.maximum(n - 1, 1)) + 0.5772156649
    return np.where(n > 2, 2 * h - 2 * (n - 1) / np.maximum(n, 1), np.where(n == 2, 1.0, 0.0))


class IsolationForest:
    """Isolation forest: random axis splits; anomalies are isolated in fewer splits."""

    def __init__(self, n_trees: int = 200, sample: int = 256, seed: int = 0):
        self.n_trees, self.sample, self.seed = n_trees, sample, seed
        self.trees: list[tuple[np.ndarray, ...]] = []

    def fit(self, x: np.ndarray) -> IsolationForest:
        rng = np.random.default_rng(self.seed)
        x = np.asarray(x, np.float64)
        psi = min(self.sample, len(x))
        self.psi = psi
        depth = math.ceil(math.log2(max(psi, 2)))
        self.trees = [self._tree(x[rng.choice(len(x), psi, replace=False)], depth, rng)
                      for _ in range(self.n_trees)]  # fmt: skip
        return self

    @staticmethod
    def _tree(x: np.ndarray, max_depth: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        feat, thr, left, right, size = [], [], [], [], []

        def grow(rows: np.ndarray, depth: int) -> int:
            node = len(feat)
            feat.append(-1)
            thr.append(0.0)
            left.append(-1)
            right.append(-1)
            size.append(len(rows))
            if depth >= max_depth or len(rows) <= 1:
                return node
            sub = x[rows]
            lo, hi = sub.min(0), sub.max(0)
            cand = np.flatnonzero(hi > lo)
            if len(cand) == 0:
                return node
            j = int(rng.choice(cand))
            t = float(rng.uniform(lo[j], hi[j]))
            feat[node], thr[node] = j, t
            go_left = sub[:, j] < t
            left[node] = grow(rows[go_left], depth + 1)
            right[node] = grow(rows[~go_left], depth + 1)
            return node

        grow(np.arange(len(x)), 0)
        return tuple(np.asarray(a) for a in (feat, thr, left, right, size))

    def score(self, x: np.ndarray) -> np.ndarray:
        """Anomaly score in (0, 1): 2^(-E[h(x)] / c(psi)); higher is more anomalous."""
        x = np.asarray(x, np.float64)
        total = np.zeros(len(x))
        rows = np.arange(len(x))
        for feat, thr, left, right, size in self.trees:
            node = np.zeros(len(x), int)
            depth = np.zeros(len(x))
            active = feat[node] >= 0
            while active.any():
                n = node[active]
                go_left = x[rows[active], feat[n]] < thr[n]
                node[active] = np.where(go_left, left[n], right[n])
                depth[active] += 1
                active = feat[node] >= 0
            total += depth + _c(size[node])
        return 2.0 ** (-(total / len(self.trees)) / _c(self.psi))


# --- the classical baseline --------------------------------------------------------------------
class ClassicalBaseline:
    """Hand-crafted features + thermal normal-behaviour residual + isolation forest."""

    def __init__(self, plant: PlantConfig, seed: int = 0):
        self.plant, self.seed = plant, seed
        self.coef: dict[str, np.ndarray] = {}

    def _raw(self, windows: Iterable[Window]) -> tuple[np.ndarray, list]:
        feats, therm = [], []
        for w in windows:
            feats.append(classical_features(w, self.plant))
            therm.append((w.asset_type, thermal_rows(w)))
        return np.asarray(feats).reshape(-1, len(FEATURES)), therm

    def _fit_thermal(self, therm: list) -> None:
        by_type: dict[str, list] = {}
        for t, rows in therm:
            if rows is not None:
                by_type.setdefault(t, []).append(rows)
        for t, items in by_type.items():
            p = min(r[1].shape[1] for r in items)
            x = np.concatenate([r[0] for r in items])
            y = np.concatenate([r[1][:, :p] for r in items])
            gram = x.T @ x + 1e-3 * len(x) * np.eye(x.shape[1])
            self.coef[t] = np.linalg.solve(gram, x.T @ y)  # (5, P)

    def _thermal(self, feats: np.ndarray, therm: list) -> np.ndarray:
        for i, (t, rows) in enumerate(therm):
            coef = self.coef.get(t)
            if rows is None or coef is None:
                continue
            p = min(coef.shape[1], rows[1].shape[1])
            r = rows[1][:, :p] - rows[0] @ coef[:, :p]  # (T, P) residual in degC
            feats[i, 9] = float(r[-1].max())
            feats[i, 10] = float(r.mean())
            feats[i, 11] = float(r[-1].mean() - r[0].mean())
        return feats

    def fit(self, normal_windows: Iterable[Window]) -> ClassicalBaseline:
        feats, therm = self._raw(normal_windows)
        if len(feats) < 8:
            raise ValueError(f"{len(feats)} normal windows: too few to fit the classical baseline")
        self._fit_thermal(therm)
        feats = self._thermal(feats, therm)
        med = np.nanmedian(np.where(np.isfinite(feats), feats, np.nan), axis=0)
        self.median = np.where(np.isfinite(med), med, 0.0)
        self.forest = IsolationForest(seed=self.seed).fit(self._impute(feats))
        return self

    def _impute(self, feats: np.ndarray) -> np.ndarray:
        return np.where(np.isfinite(feats), feats, self.median[None])

    def features(self, windows: Iterable[Window]) -> np.ndarray:
        feats, therm = self._raw(windows)
        return self._impute(self._thermal(feats, therm))

    def score(self, windows: Iterable[Window]) -> np.ndarray:
        return self.forest.score(self.features(windows))


# --- late / early fusion variants --------------------------------------------------------------
def variant_config(cfg, fusion: str, epochs: int | None = None):
    """``cfg`` with ``arch.fusion`` (and optionally ``train.epochs``) replaced."""
    from models.config import ModelConfig

    raw = cfg.model_dump(mode="json")
    raw["arch"]["fusion"] = fusion
    if epochs is not None:
        raw["train"]["epochs"] = epochs
    return ModelConfig.model_validate(raw)


def train_variant(cfg, fusion: str, ds, workdir: Path, epochs: int | None = None):
    """Train the ``fusion`` variant on ``ds`` with the model's trainer; (graphdef, state, dir)."""
    from flax import nnx

    from models.train import train_and_evaluate

    model, _ = train_and_evaluate(variant_config(cfg, fusion, epochs), workdir, ds)
    graphdef, state = nnx.split(model)
    return graphdef, state, workdir
