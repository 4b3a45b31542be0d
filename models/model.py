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
from models.config import ModelConfig
from models.encoders import CameraEncoder, NotesEncoder, ThermalEncoder, VibrationEncoder
from models.features import (
    NormStats,
    asset_thermal_offset,
    identity_stats,
    thermal_residual,
    vibration_features,
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
        base_vib=jnp.asarray(batch.base_vib),
        base_th_temp=jnp.asarray(batch.base_th_temp),
        base_th_x=jnp.asarray(batch.base_th_x),
        base_image=jnp.asarray(batch.base_image),
        base_ready=jnp.asarray(batch.base_ready),
    )


class Stat(nnx.Variable):
    """Normaliser statistics: saved with the weights, never trained."""


class FusionModel(nnx.Module):
    def __init__(self, cfg: ModelConfig, rngs: nnx.Rngs, stats: NormStats | None = None):
        inp, arch = cfg.inputs, cfg.arch
        stats = stats or identity_stats(inp, len(ASSET_TYPES))
        self.vib_mean, self.vib_std = Stat(jnp.asarray(stats.vib_mean)), Stat(stats.vib_std)
        self.th_coef, self.th_sigma = Stat(jnp.asarray(stats.th_coef)), Stat(stats.th_sigma)
        self.vibration = VibrationEncoder(inp, arch, rngs)
        self.thermal = ThermalEncoder(inp, arch, rngs)
        self.camera = CameraEncoder(inp, arch, rngs)
        self.notes = NotesEncoder(inp, arch, rngs)
        self.use_baseline = arch.use_baseline
        self.fusion = HybridFusion(arch, len(ASSET_TYPES), len(FAULT_CLASSES), rngs)

    @property
    def stats(self) -> NormStats:
        return NormStats(
            self.vib_mean[...], self.vib_std[...], self.th_coef[...], self.th_sigma[...]
        )

    def set_stats(self, stats: NormStats) -> None:
        self.vib_mean[...] = jnp.asarray(stats.vib_mean)
        self.vib_std[...] = jnp.asarray(stats.vib_std)
        self.th_coef[...] = jnp.asarray(stats.th_coef)
        self.th_sigma[...] = jnp.asarray(stats.th_sigma)

    def encode_modality(self, m: int, f: Features) -> tuple[jax.Array, dict]:
        """Tokens (B, T_m, d) of modality ``m`` (MODEL_MODALITIES order) and its evidence.

        Each encoder reads the absolute features and, where the asset's baseline is frozen
        (``base_ready``), their change against the asset's own baseline (zeros otherwise).
        """
        if not self.use_baseline:
            f = f._replace(base_ready=jnp.zeros_like(f.base_ready))
        if m == 0:
            std = self.vib_std[...][None, None]
            vib = (f.vib - self.vib_mean[...][None, None]) / std
            ready = f.base_ready[:, 0, None, None, None]
            change = jnp.where(ready, (f.vib - f.base_vib) / std, 0.0)
            x = jnp.concatenate([vib, change], 2)  # (B, C, 6, K)
            return self.vibration(x), {"vibration_spectra": vib, "vibration_change": change}
        if m == 1:
            stats = self.stats
            resid = thermal_residual(f, stats)  # (B, T, P)
            base = asset_thermal_offset(f, stats)  # (B, P)
            ready = f.base_ready[:, 1, None, None] & f.probe_mask[:, None, :]
            own = jnp.where(ready, resid - base[:, None, :], 0.0)  # residual vs the asset's own
            rel = jnp.where(f.probe_mask[:, None], (f.thermal_c - f.thermal_ctx[..., 1:2]) / 20, 0)
            scale = jnp.asarray([1.0, 1 / 40.0, 1 / 50.0, 1.0])
            x = jnp.concatenate([resid, own, rel, f.thermal_ctx * scale], -1)  # (B, T, 3P + 4)
            return self.thermal(x), {"thermal_residual": resid, "thermal_residual_asset": own}
        if m == 2:
            img = f.image.astype(jnp.float32)
            ready = f.base_ready[:, 2, None, None, None]
            change = jnp.where(ready, (img - f.base_image.astype(jnp.float32)) / 255.0, 0.0)
            return self.camera(img / 255.0 - 0.5, change), {}
        tokens, weight = self.notes(f.note_ids)
        return tokens, {"note_token_weight": weight}

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
