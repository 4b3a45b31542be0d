"""The training objectives, balanced so that no modality dominates.

- fused and mid-fusion anomaly (batch-balanced BCE: faults are rare), on windows whose fault is
  visible in a modality still present after modality dropout (else the row carries no label);
- per-modality late heads, each on its own "fault visible in me" label and averaged with equal
  weight per modality (the balancing term: a modality that is often present or easy to learn
  cannot crowd out the others);
- fault class (cross-entropy, normal is class 0);
- cross-modal alignment: InfoNCE between the pooled embeddings of two modalities of the same
  asset and time (the positives) against the other windows of the batch;
- normal behaviour: normal windows' fused latents are pulled to their batch centre.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from models.config import TrainConfig

ALIGN_TEMPERATURE = 0.1


def balanced_bce(logits: jax.Array, y: jax.Array, w: jax.Array) -> jax.Array:
    """Mean BCE with positives and negatives weighted half each (weights ``w`` in {0, 1})."""
    pos, neg = w * y, w * (1 - y)
    lp = (pos * jax.nn.softplus(-logits)).sum() / jnp.maximum(pos.sum(), 1.0)
    ln = (neg * jax.nn.softplus(logits)).sum() / jnp.maximum(neg.sum(), 1.0)
    has_pos, has_neg = pos.sum() > 0, neg.sum() > 0
    both = has_pos & has_neg
    return jnp.where(both, 0.5 * (lp + ln), lp + ln)


def alignment_loss(emb: jax.Array, present: jax.Array) -> jax.Array:
    """InfoNCE over every pair of modalities; emb (B, 4, d), present (B, 4)."""
    e = emb / jnp.maximum(jnp.linalg.norm(emb, axis=-1, keepdims=True), 1e-6)
    total, count = 0.0, 0.0
    n_mod = emb.shape[1]
    for i in range(n_mod):
        for j in range(i + 1, n_mod):
            valid = present[:, i] & present[:, j]  # (B,)
            logits = e[:, i] @ e[:, j].T / ALIGN_TEMPERATURE  # (B, B)
            logits = jnp.where(valid[None, :], logits, -1e9)
            labels = jnp.arange(emb.shape[0])
            ce_ij = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
            ce_ji = optax.softmax_cross_entropy_with_integer_labels(logits.T, labels)
            pair = jnp.where(valid, 0.5 * (ce_ij + ce_ji), 0.0).sum()
            total = total + pair
            count = count + valid.sum()
    return total / jnp.maximum(count, 1.0)


def normal_compactness(z: jax.Array, normal: jax.Array) -> jax.Array:
    w = normal.astype(jnp.float32)
    centre = jax.lax.stop_gradient((z * w[:, None]).sum(0) / jnp.maximum(w.sum(), 1.0))
    return (w * ((z - centre) ** 2).sum(-1)).sum() / jnp.maximum(w.sum(), 1.0)


def modality_dropout(key: jax.Array, present: jax.Array, p: float) -> jax.Array:
    """Drop each present modality with probability ``p``, keeping at least one per row."""
    drop = jax.random.uniform(key, present.shape) < p
    kept = present & ~drop
    return jnp.where(kept.any(-1, keepdims=True), kept, present)


def total_loss(
    score, aux, present, lab: dict, cfg: TrainConfig, fusion: str = "hybrid"
) -> tuple[jax.Array, dict]:
    """All objectives for one batch; ``lab``: fault, fault_class, visible, valid (B, ...).

    ``fusion`` (ArchConfig.fusion): the late and early baselines train only what their score
    uses (late: no mid-fusion term; early: neither the mid nor the per-modality head terms)."""
    fault, valid = lab["fault"], lab["valid"]
    seen = fault & (lab["visible"] & present).any(-1)  # fault visible in what is left
    w = valid * jnp.where(fault & ~seen, 0.0, 1.0)
    y = seen.astype(jnp.float32)
    fused = balanced_bce(score, y, w)
    mid = balanced_bce(aux["mid_score"], y, w)
    late = jnp.mean(
        jnp.stack(
            [
                balanced_bce(
                    aux["late_scores"][:, m],
                    (fault & lab["visible"][:, m]).astype(jnp.float32),
                    valid * present[:, m],
                )
                for m in range(present.shape[1])
            ]
        )
    )
    target = jnp.where(seen, lab["fault_class"], 0)
    ce = optax.softmax_cross_entropy_with_integer_labels(aux["fault_logits"], target)
    fault_ce = (w * ce).sum() / jnp.maximum(w.sum(), 1.0)
    align = alignment_loss(aux["embeddings"], present & (valid[:, None] > 0))
    normal = normal_compactness(aux["latent"], (~fault) & (valid > 0))
    use_mid = 1.0 if fusion == "hybrid" else 0.0
    use_late = 0.0 if fusion == "early" else 1.0
    loss = (
        fused
        + use_mid * mid
        + use_late * cfg.late_weight * late
        + cfg.fault_class_weight * fault_ce
        + cfg.alignment_weight * align
        + cfg.normal_weight * normal
    )
    parts = {
        "loss": loss,
        "fused": fused,
        "mid": mid,
        "late": late,
        "fault_ce": fault_ce,
        "align": align,
        "normal": normal,
    }
    return loss, parts
