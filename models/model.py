"""The hybrid-fusion model: features -> per-modality encoders -> hybrid fusion -> (score, aux).

``featurize`` is the in-graph feature stage (order/envelope spectra from the raw snapshot); the
model standardises with its saved normaliser statistics, computes the thermal residual, encodes
each modality and fuses. Scoring jits featurize + model in one graph; training caches featurize's
output (the spectra have no trainable parameters) and runs only the model.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from models.batch import ASSET_TYPES, Batch
from models.camera_features import (
    N_CAMERA_INDICATORS,
    N_CAMERA_RATIO_INDICATORS,
    align_to_reference,
    camera_indicator_vector,
    camera_ratio_indicators,
    image_change,
)
from models.config import ModelConfig
from models.encoders import (
    CameraEncoder,
    IndicatorDetector,
    NotesEncoder,
    ThermalEncoder,
    VibrationEncoder,
    score_token,
)
from models.features import (
    N_THERMAL_INDICATORS,
    NormStats,
    asset_thermal_offset,
    identity_stats,
    n_vibration_indicators,
    thermal_indicator_vector,
    thermal_residual,
    thermal_residual_own,
    vibration_features,
    vibration_indicator_vector,
)
from models.fusion import HybridFusion
from plant.labels import FAULT_CLASSES
from plant.readings import MODEL_MODALITIES

MODALITY_NAMES: tuple[str, ...] = tuple(m.value for m in MODEL_MODALITIES)


class Features(NamedTuple):
    """What the network reads: the Batch with the raw snapshot replaced by its spectra."""

    vib: jax.Array  # (B, C, 3, K) log amplitudes (order, envelope order, physical bands)
    thermal_c: jax.Array  # (B, T, P)
    probe_mask: jax.Array  # (B, P)
    thermal_ctx: jax.Array  # (B, T, 4)
    image: jax.Array  # (B, S, S, 3) uint8
    note_ids: jax.Array  # (B, L) int32
    asset_type: jax.Array  # (B,) int32
    present: jax.Array  # (B, 4) bool
    orders: jax.Array  # (B, J) shaft orders of the asset's kinematic lines (0: none)
    base_vib: jax.Array  # (B, C, 3, K) per-asset baseline (models/baseline.py)
    base_th_temp: jax.Array  # (B, P)
    base_th_x: jax.Array  # (B, F)
    base_image: jax.Array  # (B, S, S, 3) uint8
    base_ready: jax.Array  # (B, 3) bool


def featurize(batch: Batch, cfg: ModelConfig) -> Features:
    """The feature stage, in-graph (jit it with ``cfg`` static)."""
    return Features(
        vib=vibration_features(batch, cfg.inputs),
        thermal_c=jnp.asarray(batch.thermal_c),
        probe_mask=jnp.asarray(batch.probe_mask),
        thermal_ctx=jnp.asarray(batch.thermal_ctx),
        image=jnp.asarray(batch.image),
        note_ids=jnp.asarray(batch.note_ids),
        asset_type=jnp.asarray(batch.asset_type),
        present=jnp.asarray(batch.present),
        orders=jnp.asarray(batch.orders),
        base_vib=jnp.asarray(batch.base_vib),
        base_th_temp=jnp.asarray(batch.base_th_temp),
        base_th_x=jnp.asarray(batch.base_th_x),
        base_image=jnp.asarray(batch.base_image),
        base_ready=jnp.asarray(batch.base_ready),
    )


class Stat(nnx.Variable):
    """Normaliser statistics: saved with the weights, never trained."""


def load_of(f: Features) -> jax.Array:
    """(B,) the window's latest load fraction, NaN where unknown (no thermal context, or the
    machine not running)."""
    ctx = f.thermal_ctx[:, -1]
    known = f.present[:, 1] & (ctx[:, 3] > 0.5) & jnp.isfinite(ctx[:, 0])
    return jnp.where(known, ctx[:, 0], jnp.nan)


class FusionModel(nnx.Module):
    def __init__(self, cfg: ModelConfig, rngs: nnx.Rngs, stats: NormStats | None = None):
        inp, arch = cfg.inputs, cfg.arch
        stats = stats or identity_stats(inp, len(ASSET_TYPES))
        self.vib_mean, self.vib_std = Stat(jnp.asarray(stats.vib_mean)), Stat(stats.vib_std)
        self.th_coef, self.th_sigma = Stat(jnp.asarray(stats.th_coef)), Stat(stats.th_sigma)
        lag = stats.th_lag if stats.th_lag is not None else np.zeros_like(stats.th_sigma)
        self.th_lag = Stat(jnp.asarray(lag, jnp.float32)) if arch.thermal_lag else None
        on = arch.indicators
        ratio = arch.camera_change == "log_ratio"
        n_cam = N_CAMERA_RATIO_INDICATORS if ratio else N_CAMERA_INDICATORS
        counts = (n_vibration_indicators(), N_THERMAL_INDICATORS, n_cam)
        n_in = [n + 1 if on else 0 for n in counts]  # + the normal-behaviour deviation
        self.vibration = VibrationEncoder(inp, arch, rngs, n_in[0])
        self.thermal = ThermalEncoder(inp, arch, rngs, n_in[1])
        self.camera = CameraEncoder(inp, arch, rngs, n_in[2])
        if on:  # robust normal statistics of each indicator per asset type (fit_indicator_stats)
            shape = (3, len(ASSET_TYPES), max(counts))
            self.ind_mu = Stat(jnp.zeros(shape, jnp.float32))
            self.ind_sd = Stat(jnp.ones(shape, jnp.float32))
        # vibration indicators' slope on load per type, about the type's median load (zeros:
        # none; fit_indicator_stats); thermal has its own normal-behaviour model of load
        lc = on and arch.load_conditioned
        n_types = len(ASSET_TYPES)
        self.ind_beta = Stat(jnp.zeros((n_types, max(counts)), jnp.float32)) if lc else None
        self.ind_load0 = Stat(jnp.zeros((n_types,), jnp.float32)) if lc else None
        self.inputs = inp
        self.notes = NotesEncoder(inp, arch, rngs)
        self.use_baseline = arch.use_baseline
        self.width = arch.width
        self.camera_change = arch.camera_change
        self.thermal_asset = arch.thermal_asset
        det = on and arch.detector
        self.detectors = (
            nnx.List([IndicatorDetector(n, len(ASSET_TYPES), rngs) for n in n_in]) if det else None
        )
        flags = (det, det, det, False)  # notes have no indicators
        self.fusion = HybridFusion(arch, len(ASSET_TYPES), len(FAULT_CLASSES), rngs, flags)

    @property
    def stats(self) -> NormStats:
        lag = self.th_lag[...] if self.th_lag is not None else None
        return NormStats(
            self.vib_mean[...], self.vib_std[...], self.th_coef[...], self.th_sigma[...], lag
        )

    def set_stats(self, stats: NormStats) -> None:
        self.vib_mean[...] = jnp.asarray(stats.vib_mean)
        self.vib_std[...] = jnp.asarray(stats.vib_std)
        self.th_coef[...] = jnp.asarray(stats.th_coef)
        self.th_sigma[...] = jnp.asarray(stats.th_sigma)
        if self.th_lag is not None and stats.th_lag is not None:
            self.th_lag[...] = jnp.asarray(stats.th_lag)

    def encode_modality(self, m: int, f: Features) -> tuple[jax.Array, dict]:
        """Tokens (B, T_m, d) of modality ``m`` (MODEL_MODALITIES order) and its evidence.

        Each encoder reads the absolute features and, where the asset's baseline is frozen
        (``base_ready``), their change against the asset's own baseline (zeros otherwise), and
        beside them the modality's condition indicators standardised against normal windows.
        """
        if m == 3:
            tokens, weight = self.notes(f.note_ids)
            return tokens, {"note_token_weight": weight}
        args, ind, ev = self._inputs(m, f)
        z = None if ind is None else self.standardise_indicators(m, ind, f.asset_type, load_of(f))
        enc = (self.vibration, self.thermal, self.camera)[m]
        tokens = enc(*args, z)
        if self.detectors is not None and z is not None:  # its logit rides as the last token
            det = self.detectors[m](z, f.asset_type)
            tokens = jnp.concatenate([tokens, score_token(det, self.width)], 1)
        return tokens, ev

    def raw_indicators(self, m: int, f: Features) -> jax.Array | None:
        """Modality ``m``'s condition indicators before standardisation (B, n) (None: off)."""
        return self._inputs(m, f)[1]

    def standardise_indicators(
        self, m: int, ind: jax.Array, asset_type: jax.Array, load: jax.Array | None = None
    ) -> jax.Array:
        """(B, n) -> (B, n + 1): deviation from the normal windows of the asset's type in robust
        standard units (median, 84th percentile; ``fit_indicator_stats``), log-compressed, and
        a normal-behaviour deviation (the mean of the three largest positive deviations).
        Vibration's (``[arch] load_conditioned``) are first moved to the type's median load
        along the type's slope; ``load`` (B,) NaN where unknown (no correction)."""
        n = ind.shape[-1]
        mu = self.ind_mu[...][m][asset_type][:, :n]
        sd = self.ind_sd[...][m][asset_type][:, :n]
        if m == 0 and self.ind_beta is not None and load is not None:
            load0 = self.ind_load0[...][asset_type]
            dl = jnp.where(jnp.isfinite(load), load - load0, 0.0)[:, None]
            ind = ind - self.ind_beta[...][asset_type][:, :n] * dl
        z = jnp.clip((ind - mu) / sd, -50.0, 200.0)
        dev = jax.lax.top_k(jnp.maximum(z, 0.0), 3)[0].mean(-1, keepdims=True)
        x = jnp.concatenate([z, dev], -1)
        return jnp.sign(x) * jnp.log1p(jnp.abs(x))

    def _inputs(self, m: int, f: Features) -> tuple[tuple, jax.Array | None, dict]:
        """The encoder's array inputs, the raw indicators (or None) and evidence of ``m``."""
        if not self.use_baseline:
            f = f._replace(base_ready=jnp.zeros_like(f.base_ready))
        if m == 0:
            std = self.vib_std[...][None, None]
            vib = (f.vib - self.vib_mean[...][None, None]) / std
            ready = f.base_ready[:, 0, None, None, None]
            change = jnp.where(ready, (f.vib - f.base_vib) / std, 0.0)
            x = jnp.concatenate([vib, change], 2)  # (B, C, 6, K)
            ind = None
            if self.vibration.ind is not None:
                ind = vibration_indicator_vector(f, vib, change, self.inputs)
            return (x,), ind, {"vibration_spectra": vib, "vibration_change": change}
        if m == 1:
            stats = self.stats
            resid = thermal_residual(f, stats)  # (B, T, P)
            ready = f.base_ready[:, 1, None, None] & f.probe_mask[:, None, :]
            if self.thermal_asset == "scale":  # the asset's own rise over ambient
                own = jnp.where(ready, thermal_residual_own(f, stats), 0.0)
            else:  # the fleet model plus the asset's mean residual
                base = asset_thermal_offset(f, stats)  # (B, P)
                own = jnp.where(ready, resid - base[:, None, :], 0.0)
            rel = jnp.where(f.probe_mask[:, None], (f.thermal_c - f.thermal_ctx[..., 1:2]) / 20, 0)
            scale = jnp.asarray([1.0, 1 / 40.0, 1 / 50.0, 1.0])
            x = jnp.concatenate([resid, own, rel, f.thermal_ctx * scale], -1)  # (B, T, 3P + 4)
            ind = None
            if self.thermal.ind is not None:
                ind = thermal_indicator_vector(resid, own, f.probe_mask, f.base_ready[:, 1])
            return (x,), ind, {"thermal_residual": resid, "thermal_residual_asset": own}
        img = f.image.astype(jnp.float32)
        ready = f.base_ready[:, 2, None, None, None]
        ref = f.base_image.astype(jnp.float32) / 255.0
        if self.camera_change == "log_ratio":
            change = jnp.where(ready, image_change(img / 255.0, ref), 0.0)
        else:
            change = jnp.where(ready, align_to_reference(img / 255.0, ref) - ref, 0.0)
        ind = None
        if self.camera.ind is not None:
            vector = (
                camera_ratio_indicators
                if self.camera_change == "log_ratio"
                else camera_indicator_vector
            )
            ind = vector(img / 255.0, change, f.base_ready[:, 2])
        return (img / 255.0 - 0.5, change), ind, {}

    def encode(self, f: Features) -> tuple[tuple[jax.Array, ...], dict]:
        out, evidence = [], {}
        for m in range(len(MODALITY_NAMES)):
            tok, ev = self.encode_modality(m, f)
            out.append(tok)
            evidence.update(ev)
        return tuple(out), evidence

    def __call__(self, f: Features, present: jax.Array | None = None) -> tuple[jax.Array, dict]:
        """Anomaly logit (B,) (higher is more anomalous) and aux (STYLE.md 6)."""
        tokens, evidence = self.encode(f)
        present = f.present if present is None else present
        score, aux = self.fusion(tokens, present, f.asset_type)
        aux.update(evidence)
        aux["tokens"] = dict(zip(MODALITY_NAMES, tokens, strict=True))
        return score, aux


def count_params(model: nnx.Module) -> int:
    state = nnx.state(model, nnx.Param)
    return int(sum(np.prod(x.shape) for x in jax.tree.leaves(state)))
