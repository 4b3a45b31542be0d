"""Explanations: exact Shapley values over the 4 modalities, plus evidence inside each modality.

One jitted call per batch (``explain_step``):

- the window is featurised and encoded once; the fusion block then runs on all 16 coalitions of
  the modalities (the presence mask AND each coalition mask, the ``mask_override`` semantics of
  ``Scorer.score``) in one batched call, so the exact Shapley value of modality i is
  ``sum_S |S|!(3-|S|)!/4! (v(S u {i}) - v(S))``. An absent modality changes no coalition, so
  its value is exactly 0, and ``base + sum(shapley) == score`` with ``base = v({})`` (the fused
  score with every modality replaced by its learned missing token) and ``score = v(all)``;
- **vibration**: integrated gradients (16 steps) of the fused score over the envelope order
  spectrum, from the normal mean spectrum to the window's, on the bins whose energy is above the
  normal mean, summed over axes, per order bin; the top bins are mapped to Hz with the shaft
  speed and labelled against the harmonics of 1x, FTF,
  BSF, 2xBSF (the ball-defect rate), BPFO and BPFI from the asset's bearing geometry
  (plant/physics/bearing.py; a label within two bins + 2 %);
- **thermal**: the residual from the normal-behaviour model in degC over the window's time axis
  (the probe that matters most) and gradient x residual per time step;
- **camera**: gradient x (pixel - image mean), |.| summed inside each cell of the encoder's patch
  grid (one cell per patch token), scaled to 0..1;
- **notes**: occlusion per word: the fused score minus the score with that word's n-gram ids
  removed (up to ``MAX_WORDS`` newest words; the text is what ingest stored, already redacted).

The output is the ``explanation`` field of a health event (docs/PROTOCOL.md); only present
modalities appear in ``evidence``.
"""

from __future__ import annotations

import itertools
import math
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from ingest.window import Window
from models.batch import Batch, bucket_for, make_batch, pad_batch, take
from models.config import ModelConfig
from models.features import thermal_residual
from models.model import MODALITY_NAMES, Features, featurize
from models.notes_text import normalise, token_words
from plant.config.assets import BearingGeometry
from plant.physics.bearing import defect_frequencies

N_MOD = len(MODALITY_NAMES)
COALITIONS = np.array(list(itertools.product([False, True], repeat=N_MOD)), bool)[:, ::-1]
# COALITIONS[j] is the coalition whose bit m is (j >> m) & 1: row 0 empty, row 15 all.
MAX_WORDS = 32
TOP_BANDS = 8
EXPLAIN_BUCKETS = (1, 8, 64)
HARMONICS = 4
IG_STEPS = 16  # integrated-gradient steps for the vibration spectra


def shapley_matrix() -> np.ndarray:
    """(16, 4) W with shapley = v @ W for coalition values v (16,) in COALITIONS order."""
    w = np.zeros((len(COALITIONS), N_MOD))
    for j, s in enumerate(COALITIONS):
        size = int(s.sum())
        for i in range(N_MOD):
            if s[i]:  # v(S) enters phi_i with + for S containing i ...
                w[j, i] += math.factorial(size - 1) * math.factorial(N_MOD - size) / 24.0
            else:  # ... and with - for S not containing i
                w[j, i] -= math.factorial(size) * math.factorial(N_MOD - size - 1) / 24.0
    return w


W_SHAPLEY = shapley_matrix()


@partial(jax.jit, static_argnames=("graphdef", "with_notes"))
def explain_step(graphdef, state, f: Features, word_keep, with_notes: bool = True) -> dict:
    """Coalition values (B, 16) and raw per-modality attributions for a padded batch.

    ``f``: features (``featurize`` output, image as float32); ``word_keep`` (B, W, L) bool: which
    note positions remain when word w is occluded.
    """

    def fused(thermal_c, image):
        model = nnx.merge(graphdef, state)
        s, aux = model(f._replace(thermal_c=thermal_c, image=image), f.present)
        return s.sum(), (s, aux)

    grads, (score, aux) = jax.grad(fused, argnums=(0, 1), has_aux=True)(f.thermal_c, f.image)
    model = nnx.merge(graphdef, state)
    b = f.present.shape[0]
    tokens = tuple(aux["tokens"][n] for n in MODALITY_NAMES)

    # exact Shapley: fusion over the 16 coalitions in one batched call
    masks = jnp.asarray(COALITIONS)
    pres16 = (f.present[:, None, :] & masks[None]).reshape(b * len(COALITIONS), N_MOD)
    rep = partial(jnp.repeat, repeats=len(COALITIONS), axis=0)
    v, _ = model.fusion(tuple(rep(t) for t in tokens), pres16, rep(f.asset_type))
    out = {"coalitions": v.reshape(b, len(COALITIONS)), "score": score}

    # vibration: integrated gradients from the normal mean spectrum to the window's, summed over
    # axes -> (B, 3, K); only the vibration encoder and fusion rerun along the path
    out["vib_attr"] = _vibration_ig(model, f, tokens).sum(1)
    # thermal: residual in degC and gradient x residual per time step
    stats = model.stats
    sigma = stats.th_sigma[f.asset_type][:, None, :]
    resid_c = thermal_residual(f, stats) * sigma  # (B, T, P)
    out["thermal_resid_c"] = resid_c
    out["thermal_attr"] = grads[0] * resid_c  # (B, T, P)
    # camera: |gradient x (pixel - mean)| per patch cell
    img_dev = f.image - f.image.mean(axis=(1, 2, 3), keepdims=True)
    pix = jnp.abs(grads[1] * img_dev).sum(-1)  # (B, S, S)
    side = pix.shape[1]
    g = -(-side // 8)
    cell = -(-side // g)
    pix = jnp.pad(pix, ((0, 0), (0, g * cell - side), (0, g * cell - side)))
    out["camera_sal"] = pix.reshape(b, g, cell, g, cell).sum((2, 4))  # (B, G, G)

    if with_notes:  # occlusion per word: notes re-encoded, fused with the other tokens
        w = word_keep.shape[1]
        ids = (f.note_ids[:, None, :] * word_keep).reshape(b * w, -1)
        ntok, _ = model.encode_modality(3, f._replace(note_ids=ids))
        rw = partial(jnp.repeat, repeats=w, axis=0)
        occ_tokens = (*(rw(t) for t in tokens[:3]), ntok)
        s_occ, _ = model.fusion(occ_tokens, rw(f.present), rw(f.asset_type))
        out["note_occlusion"] = score[:, None] - s_occ.reshape(b, w)
    return out


def _vibration_ig(model, f: Features, tokens: tuple, steps: int = IG_STEPS) -> jax.Array:
    """Integrated gradients of the fused score over the raw spectra (B, C, 3, K), baseline =
    the normal mean (midpoint rule); they sum to score(x) - score(normal spectra)."""
    b = f.vib.shape[0]
    ref = jnp.broadcast_to(model.vib_mean[...][None, None], f.vib.shape)
    alphas = (jnp.arange(steps, dtype=jnp.float32) + 0.5) / steps
    path = ref[None] + alphas[:, None, None, None, None] * (f.vib - ref)[None]
    path = path.reshape(steps * b, *f.vib.shape[1:])

    def tile(x):
        return jnp.tile(x, (steps,) + (1,) * (x.ndim - 1))

    f_rep = jax.tree.map(tile, f)
    others = tuple(tile(t) for t in tokens[1:])

    def total(v):
        tok, _ = model.encode_modality(0, f_rep._replace(vib=v))
        s, _ = model.fusion((tok, *others), f_rep.present, f_rep.asset_type)
        return s.sum()

    g = jax.grad(total)(path).reshape(steps, b, *f.vib.shape[1:]).mean(0)
    return g * (f.vib - ref) * (f.vib > ref)  # bands whose energy is above the normal mean


def harmonic_markers(
    bearing: BearingGeometry | None, max_order: float, harmonics: int = HARMONICS
) -> list[tuple[str, float, int]]:
    """(label, order, priority) of shaft and bearing-defect harmonics up to ``max_order``.

    Lower priority wins a tie: BPFO, BPFI, 2xBSF (ball defect), BSF, 1x shaft, FTF.
    """
    base = [("1x", 1.0, 4)]
    if bearing is not None:
        d = defect_frequencies(bearing, 1.0)
        base += [
            ("BPFO", d.bpfo_hz, 0),
            ("BPFI", d.bpfi_hz, 1),
            ("2xBSF", d.ball_defect_hz, 2),
            ("BSF", d.bsf_hz, 3),
            ("FTF", d.ftf_hz, 5),
        ]
    out = []
    for name, order, prio in base:
        top = 3 if name == "FTF" else harmonics
        for h in range(1, top + 1):
            if h * order > max_order:
                break
            if name == "1x":
                label = f"{h}x"
            elif name == "2xBSF":
                label = "2xBSF" if h == 1 else f"{2 * h}xBSF"
            else:
                label = name if h == 1 else f"{h}x{name}"
            out.append((label, h * order, prio))
    return out


def tolerance(order: float, step: float) -> float:
    """How far (orders) a band may lie from a marker and still carry its label: two bins (the
    Hann window's main lobe spreads a line over neighbouring order bins) + 2 %."""
    return 2.0 * step + 0.02 * order


def label_order(order: float, markers: list[tuple[str, float, int]], step: float) -> str:
    """The marker within :func:`tolerance` of ``order``: nearest, then by priority; else ""."""
    best = None
    for label, o, prio in markers:
        dist = abs(order - o)
        if dist <= tolerance(o, step):
            key = (round(dist / step), prio)
            if best is None or key < best[0]:
                best = (key, label)
    return "" if best is None else best[1]


def defect_hit(order: float, defect_order: float, step: float, harmonics: int = HARMONICS) -> bool:
    """Whether ``order`` lies on ``defect_order`` or one of its harmonics (:func:`tolerance`)."""
    return any(
        abs(order - h * defect_order) <= tolerance(h * defect_order, step)
        for h in range(1, harmonics + 1)
    )


class Explainer:
    """Explains scored windows with one scorer's model (``Scorer`` from models/scoring.py)."""

    def __init__(self, scorer: Any):
        self.scorer = scorer
        self.cfg: ModelConfig = scorer.cfg
        inp = self.cfg.inputs
        self.step = inp.max_order / inp.order_bins

    # --- public API --------------------------------------------------------------------------
    def explain(
        self,
        window: Window,
        asset_type: str | None = None,
        bearing: BearingGeometry | None = None,
        shaft_hz: float | None = None,
        batch: Batch | None = None,
    ) -> dict:
        """The explanation dict of one window (see the module docstring and docs/PROTOCOL.md).

        ``asset_type`` is the window's own (kept for callers that pass it); ``batch``: the
        window's model input row if the caller built it (per-asset baselines filled in)."""
        return self.explain_batch([window], [bearing], [shaft_hz], batch)[0]

    def explain_batch(
        self,
        windows: list[Window],
        bearings: list[BearingGeometry | None] | None = None,
        shaft_hz: list[float | None] | None = None,
        batch: Batch | None = None,
    ) -> list[dict]:
        """Explanations of ``windows``; ``batch``: their model input when the caller already has
        it (e.g. with per-asset baselines filled in, as the live scorer scores them)."""
        if batch is None:  # the scorer's batch: each asset's frozen baseline filled in, if any
            make = getattr(self.scorer, "batch", None)
            batch = make(windows) if make is not None else make_batch(windows, self.cfg.inputs)
        b = batch
        if shaft_hz is None or all(s is None for s in shaft_hz):
            shaft_hz = [float(s) for s in b.shaft_speed_hz]
        texts = [[n.text for n in sorted(w.notes, key=lambda n: -n.header.ts_ns)] for w in windows]
        th_ts = [None if w.thermal is None else w.thermal.ts_ns for w in windows]
        return self.explain_arrays(b, bearings, shaft_hz, texts, th_ts)

    def explain_arrays(
        self,
        batch: Batch | Features,
        bearings: list[BearingGeometry | None] | None = None,
        shaft_hz: list[float | None] | None = None,
        texts: list[list[str]] | None = None,
        thermal_ts: list[np.ndarray | None] | None = None,
        evidence: bool = True,
    ) -> list[dict]:
        """Explanations from a model input ``Batch`` or cached ``Features`` (evaluation)."""
        raw = self.raw(batch, texts, with_notes=evidence and texts is not None)
        n = len(raw["coalitions"])
        if shaft_hz is None and isinstance(batch, Batch):
            shaft_hz = [float(x) for x in batch.shaft_speed_hz]
        present = np.asarray(batch.present)
        out = []
        for i in range(n):
            doc = self._shapley(raw["coalitions"][i], present[i])
            if evidence:
                doc["evidence"] = self._evidence(
                    raw,
                    i,
                    present[i],
                    None if bearings is None else bearings[i],
                    None if shaft_hz is None else shaft_hz[i],
                    None if texts is None else texts[i],
                    None if thermal_ts is None else thermal_ts[i],
                )
            out.append(doc)
        return out

    def raw(
        self, batch: Batch | Features, texts: list[list[str]] | None = None, with_notes: bool = True
    ) -> dict[str, np.ndarray]:
        """``explain_step`` outputs as numpy (N, ...), in chunks of compiled bucket sizes."""
        cfg = self.cfg
        n = len(batch.present)
        keep_all = self._word_keep(batch, texts) if with_notes else None
        top = EXPLAIN_BUCKETS[-1]
        parts: list[dict] = []
        for start in range(0, n, top):
            idx = np.arange(start, min(n, start + top))
            size = bucket_for(len(idx), EXPLAIN_BUCKETS)
            f = self._features(batch, idx, size)
            keep = np.ones((size, 1, cfg.inputs.note_tokens), bool)
            if keep_all is not None:
                keep = np.ones((size, MAX_WORDS, cfg.inputs.note_tokens), bool)
                keep[: len(idx)] = keep_all[idx]
            res = explain_step(
                self.scorer.graphdef, self.scorer.state, f, keep, with_notes=with_notes
            )
            parts.append({k: np.asarray(v)[: len(idx)] for k, v in res.items()})
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if parts else {}

    # --- internals ---------------------------------------------------------------------------
    def _features(self, batch: Batch | Features, idx: np.ndarray, size: int) -> Features:
        if isinstance(batch, Batch):
            f = _featurize(pad_batch(take(batch, idx), size), self.cfg)
        else:
            f = Features(*(_pad(np.asarray(a)[idx], size) for a in batch))
        return f._replace(
            vib=jnp.asarray(f.vib, jnp.float32), image=jnp.asarray(f.image, jnp.float32)
        )

    def _word_keep(self, batch: Batch | Features, texts: list[list[str]] | None) -> np.ndarray:
        """(N, MAX_WORDS, L) keep-masks: row w drops the positions of the w-th word."""
        n, length = len(batch.present), self.cfg.inputs.note_tokens
        keep = np.ones((n, MAX_WORDS, length), bool)
        self._words: list[list[str]] = []
        for i in range(n):
            words = token_words(texts[i], length, self.cfg.inputs.note_ngram) if texts else []
            spans = _word_spans(words, texts[i] if texts else [], self.cfg.inputs.note_ngram)
            for w, (start, stop) in enumerate(spans[:MAX_WORDS]):
                keep[i, w, start:stop] = False
            self._words.append([words[s] for s, _ in spans[:MAX_WORDS]])
        return keep

    def _shapley(self, v: np.ndarray, present: np.ndarray) -> dict:
        v = np.asarray(v, np.float64)
        phi = v @ W_SHAPLEY
        phi[~present] = 0.0  # exactly 0 already (identical coalitions); keep it explicit
        order = [i for i in np.argsort(-phi) if present[i]]
        primary = MODALITY_NAMES[order[0]] if order else ""
        return {
            "shapley": {m: float(phi[i]) for i, m in enumerate(MODALITY_NAMES)},
            "base": float(v[0]),
            "score": float(v[-1]),
            "primary": primary,
        }

    def _evidence(self, raw, i, present, bearing, shaft_hz, texts, th_ts) -> dict:
        ev: dict[str, Any] = {}
        if present[0]:
            ev["vibration"] = self._vibration(raw["vib_attr"][i, 1], bearing, shaft_hz)
        if present[1]:
            attr = raw["thermal_attr"][i]  # (T, P)
            probe = int(np.argmax(np.abs(attr).sum(0)))
            w = attr.sum(1)
            scale = max(float(np.abs(w).max()), 1e-12)
            ts = [] if th_ts is None else [int(t) for t in th_ts[-len(w) :]]
            ev["thermal"] = {
                "ts_ns": ts,
                "probe": probe,
                "residual_c": [float(x) for x in raw["thermal_resid_c"][i][:, probe]],
                "weight": [float(x) / scale for x in w],
            }
        if present[2]:
            sal = raw["camera_sal"][i]
            sal = sal / max(float(sal.max()), 1e-12)
            ev["camera"] = {"grid": list(sal.shape), "saliency": [float(x) for x in sal.ravel()]}
        if present[3]:
            occ = raw.get("note_occlusion")
            words = self._words[i] if occ is not None and i < len(self._words) else []
            ev["notes"] = {
                "tokens": [{"text": t, "weight": float(occ[i, w])} for w, t in enumerate(words)]
            }
        return ev

    def _vibration(self, attr: np.ndarray, bearing, shaft_hz) -> dict:
        """Top envelope-spectrum bands by attribution, in orders and Hz, labelled."""
        markers = harmonic_markers(bearing, self.cfg.inputs.max_order)
        speed = float(shaft_hz) if shaft_hz else None
        # bands that raise the score, never DC (order 0 carries no machine frequency)
        top = [j for j in np.argsort(-attr) if j > 0 and attr[j] > 0][:TOP_BANDS]
        bands = []
        for j in top:
            order = float(j * self.step)
            bands.append(
                {
                    "hz": None if speed is None else order * speed,
                    "order": order,
                    "weight": float(attr[j]),
                    "label": label_order(order, markers, self.step),
                }
            )
        peak = bands[0] if bands else {"hz": None, "label": ""}
        return {"bands": bands, "peak_hz": peak["hz"], "peak_label": peak["label"]}


def _word_spans(words: list[str], texts: list[str], n: int) -> list[tuple[int, int]]:
    """(start, stop) token positions of each word occurrence, in encode order."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for text in texts:
        for word in normalise(text):
            count = max(1, len(word) + 2 - n + 1)
            if pos >= len(words):
                return spans
            stop = min(pos + count, len(words))
            spans.append((pos, stop))
            pos = stop
    return spans


def _pad(a: np.ndarray, size: int) -> np.ndarray:
    return np.pad(a, [(0, size - len(a))] + [(0, 0)] * (a.ndim - 1))


@partial(jax.jit, static_argnames=("cfg",))
def _featurize(batch: Batch, cfg: ModelConfig) -> Features:
    return featurize(batch, cfg)
