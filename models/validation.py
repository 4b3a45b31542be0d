"""Figures computed during training on cached features: fused and single-modality AUROC.

The full evaluation (alarms, calibration, Shapley, baselines) is models/evaluate*.py; these are
the quick numbers training logs and writes into the model's metrics.json.
"""

from __future__ import annotations

import jax
import numpy as np
from flax import nnx

from models.batch import bucket_for
from models.dataset import Dataset
from models.metrics import auroc, fault_class_of, macro_f1
from models.model import MODALITY_NAMES, Features

EVAL_BUCKETS = (64, 256, 1024)


# XLA options for compiles where compile time dominates (tiny training runs: the demo's first
# model, tests): LLVM's expensive passes off. Set by models.train for small datasets.
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}
_fast = {"on": False}


def set_fast_compile(on: bool) -> None:
    _fast["on"] = bool(on)


def fast_compile() -> bool:
    return _fast["on"]


def _forward(graphdef, state, f: Features, present):
    model = nnx.merge(graphdef, state)
    score, aux = model(f, present)
    return score, aux["late_scores"], aux["fault_logits"]


_forward_opt = jax.jit(_forward, static_argnames=("graphdef",))
_forward_fast = jax.jit(_forward, static_argnames=("graphdef",), compiler_options=FAST_COMPILE)


def forward_features(graphdef, state, f: Features, present):
    """Fused, late and fault logits for a padded batch of cached features (jitted)."""
    fn = _forward_fast if _fast["on"] else _forward_opt
    return fn(graphdef, state, f, present)


def _pad(a: np.ndarray, size: int) -> np.ndarray:
    return np.pad(a, [(0, size - len(a))] + [(0, 0)] * (a.ndim - 1))


def predict(graphdef, state, ds: Dataset, present: np.ndarray | None = None):
    """Fused logits (N,), late logits (N, 4), fault logits (N, C) over a cached dataset."""
    present = ds.features.present if present is None else present
    n, top = len(ds), EVAL_BUCKETS[-1]
    outs: list[tuple] = []
    for start in range(0, n, top):
        sl = slice(start, min(n, start + top))
        k = sl.stop - sl.start
        size = bucket_for(k, EVAL_BUCKETS)
        f = Features(*(_pad(a[sl], size) for a in ds.features))
        out = forward_features(graphdef, state, f, _pad(present[sl], size))
        outs.append(tuple(np.asarray(o)[:k] for o in out))
    if not outs:
        return np.zeros(0), np.zeros((0, 4)), np.zeros((0, 1))
    return tuple(np.concatenate(parts) for parts in zip(*outs, strict=True))


def _forward_patterns(graphdef, state, f: Features, present_k):
    """Fused logits (K, B) of each window under K presence patterns: encoded once, fused K
    times (encoding does not depend on presence; only fusion swaps in the missing tokens)."""
    import jax.numpy as jnp

    model = nnx.merge(graphdef, state)
    tokens, _ = model.encode(f)
    k, b = present_k.shape[0], present_k.shape[1]
    tiled = tuple(jnp.tile(t, (k,) + (1,) * (t.ndim - 1)) for t in tokens)
    score, _ = model.fusion(tiled, present_k.reshape(k * b, -1), jnp.tile(f.asset_type, k))
    return score.reshape(k, b)


_patterns_opt = jax.jit(_forward_patterns, static_argnames=("graphdef",))
_patterns_fast = jax.jit(
    _forward_patterns, static_argnames=("graphdef",), compiler_options=FAST_COMPILE
)
PATTERN_BUCKETS = (16, 64, 256)


def predict_patterns(graphdef, state, ds: Dataset, masks: np.ndarray) -> np.ndarray:
    """Fused logits (K, N) of every window with only the modalities of ``masks[k]`` (K, 4) that
    it has (``present & masks[k]``): what the model scores when the others are missing."""
    masks = np.asarray(masks, bool)
    fn = _patterns_fast if _fast["on"] else _patterns_opt
    present = np.asarray(ds.features.present, bool)
    n, top = len(ds), PATTERN_BUCKETS[-1]
    outs = []
    for start in range(0, n, top):
        sl = slice(start, min(n, start + top))
        size = bucket_for(sl.stop - sl.start, PATTERN_BUCKETS)
        f = Features(*(_pad(a[sl], size) for a in ds.features))
        pk = masks[:, None, :] & _pad(present[sl], size)[None]
        outs.append(np.asarray(fn(graphdef, state, f, pk))[:, : sl.stop - sl.start])
    return np.concatenate(outs, 1) if outs else np.zeros((len(masks), 0))


def figures(graphdef, state, ds: Dataset) -> dict:
    """Fused AUROC, each modality alone, late heads, fault-class macro-F1, counts."""
    y = ds.labels.fault
    score, late, fault_logits = predict(graphdef, state, ds)
    out: dict = {
        "auroc": {"fused": auroc(y, score)},
        "auroc_late_head": {},
        "counts": {
            "windows": len(y),
            "fault_windows": int(y.sum()),
            "assets": len(np.unique(ds.labels.asset)),
        },
    }
    present = ds.features.present
    for m, name in enumerate(MODALITY_NAMES):
        only = np.zeros_like(present)
        only[:, m] = present[:, m]
        rows = present[:, m]
        s_m, _, _ = predict(graphdef, state, ds, only)
        out["auroc"][name] = auroc(y[rows], s_m[rows])
        out["auroc_late_head"][name] = auroc(y[rows], late[rows, m])
    diagnosis = fault_class_of(fault_logits[y])
    out["fault_class_macro_f1"] = macro_f1(ds.labels.fault_class[y], diagnosis)
    singles = [v for k, v in out["auroc"].items() if k != "fused" and np.isfinite(v)]
    out["auroc"]["best_single"] = max(singles) if singles else float("nan")
    return out
