"""Quick figures in numpy (no sklearn): AUROC with ties, macro-F1."""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import rankdata


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U, ties count half); NaN if one class is absent."""
    y = np.asarray(labels, bool)
    s = np.asarray(scores, np.float64)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(s)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def macro_f1(true: np.ndarray, pred: np.ndarray) -> float:
    """Mean F1 over the classes present in ``true``."""
    f1s = []
    for c in np.unique(true):
        tp = np.sum((pred == c) & (true == c))
        fp = np.sum((pred == c) & (true != c))
        fn = np.sum((pred != c) & (true == c))
        f1s.append(2 * tp / max(2 * tp + fp + fn, 1))
    return float(np.mean(f1s)) if f1s else float("nan")


def fault_class_of(fault_logits: np.ndarray) -> np.ndarray:
    """The most probable fault class (index >= 1) of each row of fault-head logits (N, C): the
    diagnosis once a window is known to be a fault window (class 0, normal, is left out; the
    detection figures judge fault against normal)."""
    return np.asarray(fault_logits)[:, 1:].argmax(-1) + 1


def json_safe(x: object) -> object:
    """``x`` for strict JSON: NaN and infinities as null (a figure with no data, e.g. AUROC with
    one class absent), numpy scalars and arrays as Python numbers and lists."""
    if isinstance(x, dict):
        return {str(k): json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [json_safe(v) for v in x]
    if isinstance(x, np.ndarray):
        return json_safe(x.tolist())
    if hasattr(x, "item") and not isinstance(x, str):
        x = x.item()  # type: ignore[union-attr]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x
