"""What the active model says beyond the health event: expected temperatures and the figures of
the model page (saliency and note tokens come with the explanation: data/explanation.py).

Read from the model registry (``models/registry.py``); with no active model every answer is
None, and the pages say so.
"""

from __future__ import annotations

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
        self._failed: set[Path] = set()  # model directories that could not be loaded (logged)

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
            if path in self._failed:
                return None
            if self._loaded is None or self._loaded[0] != path:
                try:
                    model, _cfg, _manifest = load_model(path)
                except Exception:  # a model this code cannot read: no expected temperature
                    log.exception("cannot load %s for expected temperatures", path)
                    self._failed.add(path)
                    return None
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
