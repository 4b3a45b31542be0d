"""From the model's outputs to a :class:`plant.events.HealthEvent`: p-value, health, fault class.

- **p-value**: EV's conformal :class:`models.calibration.Calibration` of the model directory
  (``<model_dir>/calibration/``), per calibration group (asset type x present modalities). A
  model directory without calibration gets :class:`UncalibratedPValues` (``1 - sigmoid(score)``,
  group ``"uncalibrated"``, a warning at load): the stream keeps flowing, but its p-values are not
  conformal and the false-alarm rate is not a setting; ``plantwatch train`` writes calibration.
- **health** 0-100 from the p-value on a log scale: ``100 * clip(1 + log10(p) / 4, 0, 1)``,
  so p = 1 -> 100, 0.1 -> 75, 0.01 -> 50 (the default alarm alpha), 1e-4 -> 0. A normal
  window's p-value is uniform, so a healthy asset mostly shows 85-100.
- **fault class**: the most probable class of the fault head (softmax over plant.labels'
  classes, "normal" included) with its probability.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from plant.labels import FAULT_CLASSES

log = logging.getLogger(__name__)

HEALTH_DECADES = 4.0  # p-value decades from health 100 to health 0


def health_from_p(p: np.ndarray) -> np.ndarray:
    """Health 0-100 from conformal p-values (see the module docstring)."""
    p = np.clip(np.asarray(p, np.float64), 1e-12, 1.0)
    return np.round(100.0 * np.clip(1.0 + np.log10(p) / HEALTH_DECADES, 0.0, 1.0), 2)


def fault_of(logits: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Most probable fault class and its softmax probability per row of ``logits`` (N, C)."""
    z = np.asarray(logits, np.float64)
    z = z - z.max(axis=1, keepdims=True)
    prob = np.exp(z)
    prob /= prob.sum(axis=1, keepdims=True)
    idx = prob.argmax(axis=1)
    names = [FAULT_CLASSES[i].value if i < len(FAULT_CLASSES) else "unknown" for i in idx]
    return names, prob[np.arange(len(idx)), idx]


class UncalibratedPValues:
    """Stand-in for a model directory without ``calibration/``: NOT a conformal p-value."""

    group = "uncalibrated"

    def p_values(self, scores: np.ndarray, groups: Sequence[str]) -> np.ndarray:
        s = np.asarray(scores, np.float64)
        return 1.0 / (1.0 + np.exp(np.clip(s, -60, 60)))


def load_range(load: np.ndarray | None) -> float | None:
    """Max - min of a window's process load over its thermal history (``HealthEvent.
    load_range``), rounded to 0.001; None without a finite value. Stops and starts count: a
    machine warming up after a start is a thermal transient too."""
    if load is None:
        return None
    x = np.asarray(load, np.float64)
    x = x[np.isfinite(x)]
    return round(float(x.max() - x.min()), 3) if x.size else None


def group_of(asset_type: str, present: Sequence[bool], ready: bool = True) -> str:
    """The calibration group name (models.calibration.calibration_group when it is there)."""
    try:
        from models.calibration import calibration_group
    except ImportError:
        letters = "VTCN"
        flags = "".join(c if p else "-" for c, p in zip(letters, present, strict=True))
        return f"{asset_type}|{flags}" + ("" if ready else "|nobase")
    return calibration_group(asset_type, present, ready)


def load_calibration(model_dir: Path) -> object:
    """The model's conformal calibration, or :class:`UncalibratedPValues` with a warning."""
    try:
        from models.calibration import Calibration
    except ImportError:
        Calibration = None
    if Calibration is not None and (Path(model_dir) / "calibration").is_dir():
        return Calibration.load(model_dir)
    log.warning(
        "%s has no conformal calibration (calibration/): p-values are 1 - sigmoid(score), "
        "NOT calibrated; alarm rates are not controlled",
        model_dir,
    )
    return UncalibratedPValues()
