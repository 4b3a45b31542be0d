"""One encoder per modality, each emitting tokens of the shared width ``d``.

Inputs are the model's feature arrays (models/model.py ``Features``); shapes are in comments.
Encoders read every row, present or not; fusion replaces the tokens of an absent modality with that
modality's learned missing token, so an absent slot never reaches the scores.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from models.config import ArchConfig, InputConfig


def _pool_tokens(x: jax.Array, n_tokens: int) -> jax.Array:
    """(B, L, d) -> (B, n_tokens, d) by averaging consecutive groups (L divisible or cropped)."""
    b, length, d = x.shape
    n = max(1, min(n_tokens, length))
    group = length // n
    return x[:, : group * n].reshape(b, n, group, d).mean(2)


class IndicatorTokens(nnx.Module):
    """A few tokens from a modality's condition indicators (a small MLP): the physics a
    condition monitor checks, in units that carry over between assets (models/features.py)."""

    def __init__(self, n_in: int, d: int, n_tokens: int, rngs: nnx.Rngs):
        self.hidden = nnx.Linear(n_in, 2 * d, rngs=rngs)
        self.out = nnx.Linear(2 * d, n_tokens * d, rngs=rngs)
        self.n_tokens, self.d = n_tokens, d

    def __call__(self, ind: jax.Array) -> jax.Array:
        """(B, n_in) standardised indicators (models/model.py) -> (B, n_tokens, d)."""
        x = self.out(nnx.gelu(self.hidden(ind)))
        return x.reshape(ind.shape[0], self.n_tokens, self.d)


class IndicatorDetector(nnx.Module):
    """A monotone anomaly detector on a modality's standardised indicators: non-negative weights
    on their positive deviations from normal, plus a bias per asset type.

    A fault adds energy at a defect line, heat or a visible change; it never makes an asset
    look more normal, so only rises count and no weight can turn a rise into evidence of health.
    That prior is what lets a few dozen fault episodes teach a detector that carries over to
    assets and faults it has not seen: untrained (all weights equal) it already scores the sum
    of the positive deviations, a normal-behaviour score."""

    def __init__(self, n_in: int, n_types: int, rngs: nnx.Rngs):
        del rngs  # deterministic initialisation
        self.raw_weight = nnx.Param(jnp.full((n_in,), DETECTOR_INIT, jnp.float32))
        self.bias = nnx.Param(jnp.full((n_types,), -2.0, jnp.float32))

    def weights(self) -> jax.Array:
        return jax.nn.softplus(self.raw_weight[...])

    def __call__(self, z: jax.Array, asset_type: jax.Array) -> jax.Array:
        """(B, n_in) standardised indicators, (B,) asset type -> (B,) logit."""
        return jnp.maximum(z, 0.0) @ self.weights() + self.bias[...][asset_type]


DETECTOR_INIT = -2.0  # softplus(-2) = 0.13 per indicator before training


def score_token(score: jax.Array, d: int) -> jax.Array:
    """(B,) -> (B, 1, d): a detector's logit carried as the last token of its modality, in
    channel 0, so that every path that caches or re-fuses tokens carries it (fusion.py)."""
    return (score[:, None, None] * (jnp.arange(d) == 0)).astype(jnp.float32)


class VibrationEncoder(nnx.Module):
    """1-D convs over the order / envelope-order / band spectra of all axes, beside tokens from
    the defect-line indicators (line prominences at the asset's kinematic orders)."""

    def __init__(self, inp: InputConfig, arch: ArchConfig, rngs: nnx.Rngs, n_ind: int = 0):
        c, d = inp.vibration_channels * 6, arch.width  # 3 spectra rows + their change
        self.conv1 = nnx.Conv(c, d, kernel_size=7, strides=2, rngs=rngs)
        self.conv2 = nnx.Conv(d, d, kernel_size=5, strides=2, rngs=rngs)
        self.n_tokens = arch.vibration_tokens
        self.pos = nnx.Param(0.02 * jax.random.normal(rngs.params(), (self.n_tokens, d)))
        self.ind = IndicatorTokens(n_ind, d, arch.indicator_tokens, rngs) if n_ind else None
        self.spectra = arch.vibration_spectra or self.ind is None

    def __call__(self, feats: jax.Array, ind: jax.Array | None = None) -> jax.Array:
        if not self.spectra and self.ind is not None and ind is not None:
            return self.ind(ind)
        b, c, r, k = feats.shape  # (B, C, 6, K) standardised log amplitudes and their change
        x = feats.reshape(b, c * r, k).transpose(0, 2, 1)  # (B, K, C*3)
        x = nnx.gelu(self.conv1(x))  # (B, K/2, d)
        x = nnx.gelu(self.conv2(x))  # (B, K/4, d)
        tokens = _pool_tokens(x, self.n_tokens) + self.pos[...]  # (B, Tv, d)
        if self.ind is None or ind is None:
            return tokens
        return jnp.concatenate([self.ind(ind), tokens], 1)  # (B, Ti + Tv, d)


class ThermalEncoder(nnx.Module):
    """A small 1-D conv over the residual from the normal-behaviour model, with its context,
    beside tokens from the residual's summary indicators."""

    def __init__(self, inp: InputConfig, arch: ArchConfig, rngs: nnx.Rngs, n_ind: int = 0):
        c, d = 3 * inp.thermal_probes + 4, arch.width
        self.conv1 = nnx.Conv(c, d, kernel_size=5, rngs=rngs)
        self.conv2 = nnx.Conv(d, d, kernel_size=5, strides=2, rngs=rngs)
        self.n_tokens = arch.thermal_tokens
        self.pos = nnx.Param(0.02 * jax.random.normal(rngs.params(), (self.n_tokens, d)))
        self.ind = IndicatorTokens(n_ind, d, arch.indicator_tokens, rngs) if n_ind else None

    def __call__(self, x: jax.Array, ind: jax.Array | None = None) -> jax.Array:
        x = nnx.gelu(self.conv1(x))  # (B, T, d) from (B, T, 3P + 4)
        x = nnx.gelu(self.conv2(x))  # (B, T/2, d)
        tokens = _pool_tokens(x, self.n_tokens) + self.pos[...]  # (B, Tt, d)
        if self.ind is None or ind is None:
            return tokens
        return jnp.concatenate([self.ind(ind), tokens], 1)


class CameraEncoder(nnx.Module):
    """A small CNN over the image and its change against the asset's reference image; each cell
    of its last feature map is a patch token (saliency falls out)."""

    def __init__(self, inp: InputConfig, arch: ArchConfig, rngs: nnx.Rngs, n_ind: int = 0):
        d = arch.width
        self.ind = IndicatorTokens(n_ind, d, arch.indicator_tokens, rngs) if n_ind else None
        self.conv1 = nnx.Conv(6, 16, kernel_size=(3, 3), strides=2, rngs=rngs)
        self.conv2 = nnx.Conv(16, 32, kernel_size=(3, 3), strides=2, rngs=rngs)
        self.conv3 = nnx.Conv(32, d, kernel_size=(3, 3), strides=2, rngs=rngs)
        side = -(-inp.image_size // 8)
        self.grid = side
        self.pos = nnx.Param(0.02 * jax.random.normal(rngs.params(), (side * side, d)))

    def __call__(
        self, image: jax.Array, change: jax.Array, ind: jax.Array | None = None
    ) -> jax.Array:
        """image (B, S, S, 3) in [-0.5, 0.5], change vs the asset's reference (B, S, S, 3);
        ``ind`` (B, n) indicators add tokens after the patch tokens (saliency reads the first
        G*G tokens only)."""
        x = jnp.concatenate([image, change], -1)  # (B, S, S, 6)
        x = nnx.gelu(self.conv1(x))  # (B, S/2, S/2, 16)
        x = nnx.gelu(self.conv2(x))  # (B, S/4, S/4, 32)
        x = nnx.gelu(self.conv3(x))  # (B, S/8, S/8, d)
        b, h, w, d = x.shape
        tokens = x.reshape(b, h * w, d) + self.pos[...]  # (B, G*G, d) patch tokens
        if self.ind is None or ind is None:
            return tokens
        return jnp.concatenate([tokens, self.ind(ind)], 1)


class NotesEncoder(nnx.Module):
    """Hashed n-gram embeddings, one transformer layer, attention pooling to a few tokens."""

    def __init__(self, inp: InputConfig, arch: ArchConfig, rngs: nnx.Rngs):
        d, h = arch.width, arch.heads
        self.embed = nnx.Embed(inp.note_vocab, d, rngs=rngs)
        self.pos = nnx.Param(0.02 * jax.random.normal(rngs.params(), (inp.note_tokens, d)))
        self.attn = nnx.MultiHeadAttention(h, d, decode=False, rngs=rngs)
        self.norm1 = nnx.LayerNorm(d, rngs=rngs)
        self.norm2 = nnx.LayerNorm(d, rngs=rngs)
        self.mlp1 = nnx.Linear(d, 2 * d, rngs=rngs)
        self.mlp2 = nnx.Linear(2 * d, d, rngs=rngs)
        n = arch.note_pool_tokens
        self.queries = nnx.Param(0.02 * jax.random.normal(rngs.params(), (n, d)))
        self.pool = nnx.MultiHeadAttention(h, d, decode=False, rngs=rngs)

    def __call__(self, ids: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(B, L) ids -> (B, Tn, d) tokens and (B, L) per-token pooling weight (attribution)."""
        valid = ids > 0
        empty = ~valid.any(-1, keepdims=True)
        valid = valid.at[:, 0].set(valid[:, 0] | empty[:, 0])  # keep one key: no all-masked row
        x = self.embed(ids) + self.pos[...]  # (B, L, d)
        key_mask = valid[:, None, None, :]
        x = x + self.attn(self.norm1(x), mask=key_mask)
        x = x + self.mlp2(nnx.gelu(self.mlp1(self.norm2(x))))
        q = jnp.broadcast_to(self.queries[...], (ids.shape[0], *self.queries.shape))
        tokens = self.pool(q, x, mask=key_mask)  # (B, Tn, d)
        weight = jnp.where(valid, jnp.linalg.norm(x, axis=-1), 0.0)
        return tokens, weight / jnp.maximum(weight.sum(-1, keepdims=True), 1e-6)
