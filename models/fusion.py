"""Hybrid fusion: late per-modality heads beside a latent-token mid-fusion block, and a gate.

- late: each modality's tokens -> its own anomaly logit (kept for missing-modality robustness and
  for the per-modality scores the dashboard shows);
- mid: a few learned latent tokens cross-attend to every present token (key mask), then
  self-attend; an absent modality contributes only its learned missing token;
- gate: one weight per late logit and for the mid logit, conditioned on the presence mask and
  the asset type; absent modalities get weight 0.

With ``arch.combine = "or"`` (the default) the late and mid logits are not averaged but added
up as evidence: a noisy-OR, P(fault) = 1 - (1 - p_prior) prod_m (1 - p_m)^g_m over the present
modalities, with gate exponents g_m in (0, 2); a modality that sees nothing (p_m near 0) leaves the
score alone instead of pulling it down, so a fault that shows in one modality is not diluted by
the three that cannot see it. ``"gate"`` is the softmax-weighted average of earlier models.

Modalities with a detector (``models.encoders.IndicatorDetector``) carry its logit as their last
token (channel 0); it is split off here and added to that modality's late logit.

``arch.fusion`` picks the score (the baselines of issue 4 are configs of this one model):
``hybrid`` (the above), ``late`` (the gate over the late logits only), ``early`` (one MLP head on
the concatenated pooled embeddings of the four modalities, missing tokens for absent ones).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from models.config import ArchConfig

N_MODALITIES = 4


class LateHead(nnx.Module):
    def __init__(self, d: int, rngs: nnx.Rngs):
        self.norm = nnx.LayerNorm(d, rngs=rngs)
        self.hidden = nnx.Linear(d, d, rngs=rngs)
        self.out = nnx.Linear(d, 1, rngs=rngs)

    def __call__(self, tokens: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(B, T, d) -> logit (B,) and pooled embedding (B, d)."""
        pooled = self.norm(tokens).mean(1)
        return self.out(nnx.gelu(self.hidden(pooled)))[:, 0], pooled


class MidFusion(nnx.Module):
    """Perceiver-style bottleneck: latents cross-attend to all tokens, then self-attend."""

    def __init__(self, arch: ArchConfig, rngs: nnx.Rngs):
        d, h = arch.width, arch.heads
        self.latents = nnx.Param(0.02 * jax.random.normal(rngs.params(), (arch.latents, d)))
        self.norm_kv = nnx.LayerNorm(d, rngs=rngs)
        self.cross = nnx.MultiHeadAttention(h, d, decode=False, rngs=rngs)
        self.norm_s = nnx.LayerNorm(d, rngs=rngs)
        self.self_attn = nnx.MultiHeadAttention(h, d, decode=False, rngs=rngs)
        self.norm_m = nnx.LayerNorm(d, rngs=rngs)
        self.mlp1 = nnx.Linear(d, 2 * d, rngs=rngs)
        self.mlp2 = nnx.Linear(2 * d, d, rngs=rngs)

    def __call__(self, tokens: jax.Array, key_mask: jax.Array) -> jax.Array:
        """tokens (B, N, d), key_mask (B, N) -> pooled latent (B, d)."""
        b = tokens.shape[0]
        q = jnp.broadcast_to(self.latents[...], (b, *self.latents.shape))  # (B, L, d)
        kv = self.norm_kv(tokens)
        x = q + self.cross(q, kv, mask=key_mask[:, None, None, :])
        x = x + self.self_attn(self.norm_s(x))
        x = x + self.mlp2(nnx.gelu(self.mlp1(self.norm_m(x))))
        return x.mean(1)


def or_logit(total: jax.Array) -> jax.Array:
    """log(expm1(T)): the logit of 1 - exp(-T) for T > 0, stable at both ends."""
    big = jnp.maximum(total, 1.0)
    small = jnp.clip(total, 1e-12, 1.0)
    return jnp.where(total > 1.0, big + jnp.log1p(-jnp.exp(-big)), jnp.log(jnp.expm1(small)))


class HybridFusion(nnx.Module):
    def __init__(
        self,
        arch: ArchConfig,
        n_types: int,
        n_classes: int,
        rngs: nnx.Rngs,
        detectors: tuple[bool, ...] = (False,) * N_MODALITIES,
    ):
        d = arch.width
        self.mode = arch.fusion
        self.combine = arch.combine
        self.detectors = tuple(detectors)
        self.late_tokens = arch.late_tokens or not any(detectors)
        if self.combine == "or":  # the prior odds of a fault, per asset type
            self.prior = nnx.Param(jnp.full((n_types,), -4.0, jnp.float32))
        self.early1 = nnx.Linear(N_MODALITIES * d, 2 * d, rngs=rngs)
        self.early2 = nnx.Linear(2 * d, 1, rngs=rngs)
        self.late = nnx.List([LateHead(d, rngs) for _ in range(N_MODALITIES)])
        self.missing = nnx.Param(0.02 * jax.random.normal(rngs.params(), (N_MODALITIES, d)))
        self.modality_embed = nnx.Param(0.02 * jax.random.normal(rngs.params(), (N_MODALITIES, d)))
        self.mid = MidFusion(arch, rngs)
        self.mid_head = nnx.Linear(d, 1, rngs=rngs)
        self.fault_head = nnx.Linear(d, n_classes, rngs=rngs)
        self.type_embed = nnx.Embed(n_types, 8, rngs=rngs)
        self.gate1 = nnx.Linear(N_MODALITIES + 8, 16, rngs=rngs)
        self.gate2 = nnx.Linear(16, N_MODALITIES + 1, rngs=rngs)

    def __call__(
        self, tokens: tuple[jax.Array, ...], present: jax.Array, asset_type: jax.Array
    ) -> tuple[jax.Array, dict]:
        """tokens: per modality (B, T_m, d); present (B, 4) bool -> score (B,), aux."""
        filled, masks, late, pooled = [], [], [], []
        for m, tok in enumerate(tokens):
            here = present[:, m]  # (B,)
            det = None
            if self.detectors[m]:  # the detector's logit, carried as the last token
                det, tok = jnp.where(here, tok[:, -1, 0], 0.0), tok[:, :-1]
            miss = jnp.broadcast_to(self.missing[m], tok.shape)
            tok = jnp.where(here[:, None, None], tok, miss) + self.modality_embed[m]
            first = jnp.arange(tok.shape[1]) == 0
            masks.append(here[:, None] | first[None, :])  # absent: only its missing token
            logit, emb = self.late[m](tok)
            if det is not None:
                logit = det + logit if self.late_tokens else det
            filled.append(tok)
            late.append(logit)
            pooled.append(emb)
        all_tokens = jnp.concatenate(filled, 1)  # (B, N, d)
        z = self.mid(all_tokens, jnp.concatenate(masks, 1))  # (B, d)
        mid = self.mid_head(z)[:, 0]
        late_scores = jnp.stack(late, 1)  # (B, 4)
        gate = self._gate(present, asset_type, use_mid=self.mode == "hybrid")  # (B, 5)
        if self.mode == "early":
            flat = jnp.concatenate(pooled, -1)  # (B, 4d)
            score = self.early2(nnx.gelu(self.early1(flat)))[:, 0]
        elif self.combine == "or":
            logits = jnp.concatenate([late_scores, mid[:, None]], -1)  # (B, 5)
            total = jax.nn.softplus(self.prior[...][asset_type])
            total = total + (gate * jax.nn.softplus(logits)).sum(-1)
            score = or_logit(total)
        else:
            score = (gate[:, :N_MODALITIES] * late_scores).sum(1) + gate[:, N_MODALITIES] * mid
        aux = {
            "late_scores": late_scores,
            "mid_score": mid,
            "gate": gate,
            "fault_logits": self.fault_head(z),
            "embeddings": jnp.stack(pooled, 1),  # (B, 4, d) for cross-modal alignment
            "latent": z,
        }
        return score, aux

    def _gate(self, present: jax.Array, asset_type: jax.Array, use_mid: bool = True) -> jax.Array:
        g_in = jnp.concatenate([present.astype(jnp.float32), self.type_embed(asset_type)], -1)
        logits = self.gate2(nnx.gelu(self.gate1(g_in)))  # (B, 5)
        mid_ok = jnp.full_like(present[:, :1], use_mid)
        valid = jnp.concatenate([present, mid_ok], -1)
        if self.combine == "or":  # exponents in (0, 2), near 1 at initialisation; absent: 0
            return jnp.where(valid, 2.0 * jax.nn.sigmoid(logits), 0.0)
        return jax.nn.softmax(jnp.where(valid, logits, -1e9), -1)
