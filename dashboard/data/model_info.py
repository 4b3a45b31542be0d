"""What the active model says beyond the health event: expected temperatures and the figures of
the model page (saliency and note tokens come with the explanation: data/explanation.py).

Read from the model registry (``models/registry.py``); with no active model every answer is
None, and the pages say so.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np

from plant.config import Asset

log = logging.getLogger(__name__)


RESIDUAL_SIGMAS = 3.0  # a temperature this many residual std above expected is marked


class ModelInsight:
    """The model-side evidence of the asset and alarm pages, from the registry's active model.

    Built: the expected temperature per probe from the active model's normal-behaviour
    coefficients (the same linear model the thermal encoder subtracts, ``models/features.py``).
    The model is loaded at the first question and again when ACTIVE changes.
    """

    def __init__(self, registry_dir: Path | None) -> None:
        self.registry_dir = registry_dir
        self._lock = threading.Lock()
        self._loaded: tuple[Path, np.ndarray, np.ndarray] | None = None

    def _thermal_stats(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(A, P, F) coefficients and (A, P) residual std of the active model, or None."""
        if self.registry_dir is None:
            return None
        from models import registry
        from models.checkpoint import load_model

        path = registry.active_model(self.registry_dir)
        if path is None:
            return None
        with self._lock:
            if self._loaded is None or self._loaded[0] != path:
                model, _cfg, _manifest = load_model(path)
                stats = model.stats
                self._loaded = (path, np.asarray(stats.th_coef), np.asarray(stats.th_sigma))
                log.info("thermal normal-behaviour model of %s loaded", path.name)
            return self._loaded[1], self._loaded[2]

    def expected_temperature_c(self, asset: Asset, thermal: Any) -> np.ndarray | None:
        """(T, P) expected temperatures given load, ambient, speed and running (NaN: no model
        for that probe)."""
        stats = self._thermal_stats()
        if stats is None:
            return None
        from models.batch import ASSET_TYPES

        coef = stats[0][ASSET_TYPES.index(asset.type)]  # (P_model, F)
        load, amb, speed, run = (thermal.context[:, i].astype(np.float64) for i in range(4))
        design = np.stack([np.ones_like(load), load, amb, speed / 100.0, run, load**2], -1)
        out = np.full(thermal.temperature_c.shape, np.nan)
        n = min(out.shape[1], coef.shape[0])
        out[:, :n] = design @ coef[:n].T
        return out

    def residual_limit_c(self, asset: Asset, probe: int) -> float | None:
        stats = self._thermal_stats()
        if stats is None:
            return None
        from models.batch import ASSET_TYPES

        sigma = stats[1][ASSET_TYPES.index(asset.type)]
        return float(RESIDUAL_SIGMAS * sigma[probe]) if probe < sigma.shape[0] else None


@dataclasses.dataclass(frozen=True, slots=True)
class ModelSummary:
    version: str
    created: str
    data: str
    versions: tuple[str, ...]
    metrics: tuple[tuple[str, str], ...]  # (figure, formatted value), flattened from metrics.json
    auroc: dict[str, float] | None  # fused and per single modality, held-out test
    ablation: dict[str, float] | None  # fused AUROC with one modality removed, when evaluated
    calibration: list[tuple[float, float]] | None  # (target alpha, realised rate)
    drift: dict[str, float] | None  # per modality, when measured


def _flatten(doc: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(doc, dict):
        return [kv for k, v in doc.items() for kv in _flatten(v, f"{prefix}{k}.")]
    if isinstance(doc, float):
        return [(prefix[:-1], f"{doc:.4g}")]
    if isinstance(doc, int | str | bool):
        return [(prefix[:-1], str(doc))]
    return []


def model_summary(registry_dir: Path) -> ModelSummary | None:
    """The active model's figures as the registry holds them (None: no active model)."""
    from models import registry  # the registry's own reader

    active = registry.active_version(registry_dir)
    if active is None:
        return None
    info = registry.describe(registry_dir, active)
    metrics, manifest = info["metrics"], info["manifest"]
    test = metrics.get("test", {})
    cal = metrics.get("calibration", {}).get("points")
    return ModelSummary(
        version=active,
        created=str(manifest.get("created", "")),
        data=str(manifest.get("data", metrics.get("data", ""))),
        versions=tuple(registry.versions(registry_dir)),
        metrics=tuple(_flatten(test))[:40],
        auroc=test.get("auroc"),
        ablation=test.get("ablation_auroc") or test.get("missing_auroc"),
        calibration=[(float(a), float(r)) for a, r in cal] if cal else None,
        drift=metrics.get("drift"),
    )
