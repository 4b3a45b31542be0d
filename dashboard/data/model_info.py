"""What the active model says beyond the health event: expected temperatures and the figures of
the model page (saliency and note tokens come with the explanation: data/explanation.py).

Read from the model registry (``models/registry.py``); with no active model every answer is
None, and the pages say so.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from plant.config import Asset

log = logging.getLogger(__name__)

NS = 1_000_000_000
RESIDUAL_SIGMAS = 3.0  # a temperature this many residual std above expected is marked
OPEN_BASELINE_TTL_S = 600.0  # an asset's baseline not yet frozen is looked at again after this
SOURCE_SERVE = "serve's live baselines"
SOURCE_STORE = "the store's first hours of the asset, as training builds a baseline"


@dataclasses.dataclass(frozen=True, slots=True)
class ThermalOffset:
    """The asset's own thermal offset against the fleet normal-behaviour model: its mean
    standardised residual over its baseline period (``models.features.asset_thermal_offset``),
    and the same in degC per probe. ``ready`` False: the baseline is not frozen yet (too little
    data since the asset's first temperatures, or since maintenance), and the offsets are
    zero. ``source``: serve's saved live baselines, or the store's first hours (as training
    builds a baseline) where serve has saved none."""

    ready: bool
    offset_sigma: np.ndarray  # (P,) standardised, as the model reads it
    offset_c: np.ndarray  # (P,) degC: offset_sigma x the residual std of the type and probe
    start_ns: int  # the baseline period: first and last window observed
    end_ns: int
    windows: int
    source: str = SOURCE_STORE
    # (P,) the asset's rise over ambient against the fleet model's (``[arch] thermal_asset =
    # "scale"``, models.features.asset_rise_scale): the expectation is ambient + scale x the
    # fleet's rise. None: the model judges the asset by the additive offset.
    scale: np.ndarray | None = None

    def describe(self) -> str:
        if not self.ready:
            return "fleet normal model only (the asset's own baseline is not ready yet)"
        if self.scale is not None:
            return "fleet normal model, its rise over ambient scaled to this asset's own"
        return "fleet normal model + this asset's offset"


class ModelInsight:
    """The model-side evidence of the asset and alarm pages, from the registry's active model.

    Built: the expected temperature per probe from the active model's normal-behaviour
    coefficients (the same linear model the thermal encoder subtracts, ``models/features.py``).
    The model is loaded at the first question and again when ACTIVE changes.
    """

    def __init__(self, registry_dir: Path | None, serve_state_dir: Path | None = None) -> None:
        self.registry_dir = registry_dir
        self.serve_state_dir = serve_state_dir  # None: serve's default, beside the store
        self._lock = threading.Lock()
        self._loaded: tuple[Path, np.ndarray, np.ndarray, Any] | None = None
        self._failed: set[Path] = set()  # model directories that could not be loaded (logged)
        # (model dir, asset) -> (monotonic time, serve's file stamp, offset)
        self._offsets: dict[tuple[Path, str], tuple[float, float, ThermalOffset | None]] = {}

    def warm(self) -> None:
        """Load the active model now (JAX and Flax imported, weights read), so the first
        evidence page does not pay for it; meant for a background thread at start."""
        try:
            self._thermal_stats()
            import models.features  # noqa: F401  (the asset offset's JAX path)
        except Exception:  # logged; the pages load it again when asked
            log.exception("warming the model insight failed")

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
                    model, cfg, _manifest = load_model(path)
                except Exception:  # a model this code cannot read: no expected temperature
                    log.exception("cannot load %s for expected temperatures", path)
                    self._failed.add(path)
                    return None
                stats = model.stats
                th_coef, th_sigma = np.asarray(stats.th_coef), np.asarray(stats.th_sigma)
                self._loaded = (path, th_coef, th_sigma, cfg)
                log.info("thermal normal-behaviour model of %s loaded", path.name)
            return self._loaded[1], self._loaded[2]

    def expected_temperature_c(
        self, asset: Asset, thermal: Any, offset: ThermalOffset | None = None
    ) -> np.ndarray | None:
        """(T, P) expected temperatures given load, ambient, speed and running (NaN: no model
        for that probe): the fleet normal-behaviour model of the asset's type, plus the asset's
        own offset (:meth:`thermal_offset`) when ``offset`` is given and ready."""
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
        if offset is not None and offset.ready:
            m = min(n, len(offset.offset_c))
            if offset.scale is not None:  # ambient + the asset's own rise
                out[:, :m] = amb[:, None] + offset.scale[:m] * (out[:, :m] - amb[:, None])
            else:
                out[:, :m] += offset.offset_c[:m]
        return out

    def thermal_offset(self, plant: Any, reader: Any, asset: Asset) -> ThermalOffset | None:
        """The asset's thermal offset (None: no readable active model, or no baseline source).

        First serve's saved live baselines (``models/serving/state.py``: ``--state-dir``, by
        default ``serve/`` beside the store; the file of the active model's input config, read
        only), which are what the model reads live, maintenance restarts included; the result
        is kept until that file changes. Where serve has saved none, the baseline is built from
        the store as training builds it (models/store_data.py): windows from the asset's first
        temperatures, after one thermal look-back, one per ``baseline_spacing_s``, through
        ``models.baseline.AssetBaselines`` until it freezes (stopped-machine windows do not
        count); a frozen one is kept per model, an open one looked at again after
        ``OPEN_BASELINE_TTL_S``."""
        if self._thermal_stats() is None or self._loaded is None:
            return None
        path, coef, sigma, cfg = self._loaded
        state = self.serve_state_dir or Path(reader.root).parent / "serve"
        saved = _serve_baselines_path(state, cfg.inputs)
        stamp = saved.stat().st_mtime if saved is not None else -1.0
        key = (path, asset.id)
        with self._lock:
            got = self._offsets.get(key)
        if got is not None and got[1] == stamp:
            if stamp >= 0 or (got[2] is not None and got[2].ready):
                return got[2]
            if time.monotonic() - got[0] < OPEN_BASELINE_TTL_S:
                return got[2]
        if saved is not None:
            result = _serve_offset(saved, asset, cfg, coef, sigma)
        else:
            result = _thermal_offset(plant, reader, asset, cfg, coef, sigma)
        with self._lock:
            self._offsets[key] = (time.monotonic(), stamp, result)
        return result

    def residual_limit_c(self, asset: Asset, probe: int) -> float | None:
        stats = self._thermal_stats()
        if stats is None:
            return None
        from models.batch import ASSET_TYPES

        sigma = stats[1][ASSET_TYPES.index(asset.type)]
        return float(RESIDUAL_SIGMAS * sigma[probe]) if probe < sigma.shape[0] else None


def _serve_baselines_path(state_dir: Path, inputs: Any) -> Path | None:
    """Serve's saved baselines for the model's input config, if serve has written them."""
    from models.serving.state import BaselineFile

    path = BaselineFile(state_dir).path(inputs)
    return path if path.is_file() else None


def _offset_of(
    base: Any,
    asset: Asset,
    coef: np.ndarray,
    sigma: np.ndarray,
    p: int,
    source: str,
    cfg: Any = None,
) -> ThermalOffset:
    """The offset of ``asset`` in ``base`` (an ``AssetBaselines``), ready or not, with the
    asset's rise scale where the model (``cfg``) judges by it."""
    from models.batch import ASSET_TYPES
    from models.features import NormStats, asset_rise_scale, asset_thermal_offset

    rows = base.rows([asset.id])
    accs = base._acc.get(asset.id)  # the thermal accumulator: its period and window count
    acc = accs[1] if accs else None
    first, last, n = (acc.first_ns, acc.last_ns, acc.n) if acc is not None else (0, 0, 0)
    if not rows.base_ready[0, 1]:
        return ThermalOffset(False, np.zeros(p), np.zeros(p), first, last, n, source)
    k = ASSET_TYPES.index(asset.type)
    feats = _OffsetInput(  # the Features fields the offset reads
        np.array([k], np.int32), rows.base_th_x, rows.base_th_temp
    )
    stats = NormStats(None, None, coef, sigma)  # type: ignore[arg-type]
    off = np.asarray(asset_thermal_offset(feats, stats), np.float64)[0]  # (P,)
    scale = None
    if cfg is not None and cfg.arch.thermal_asset == "scale":
        scale = np.asarray(asset_rise_scale(feats, stats), np.float64)[0]
    return ThermalOffset(True, off, off * sigma[k], first, last, n, source, scale)


def _serve_offset(
    path: Path, asset: Asset, cfg: Any, coef: np.ndarray, sigma: np.ndarray
) -> ThermalOffset | None:
    from models.baseline import AssetBaselines
    from models.batch import ASSET_TYPES

    if asset.type not in ASSET_TYPES:
        return None
    try:
        base = AssetBaselines.load(path, cfg.inputs)  # read only (BaselineFile.load prunes)
    except (OSError, ValueError, KeyError, IndexError) as exc:
        log.warning("serve's baselines %s unreadable: %s", path, exc)
        return None
    return _offset_of(base, asset, coef, sigma, cfg.inputs.thermal_probes, SOURCE_SERVE, cfg)


SCAN_PERIODS = 8  # baseline periods scanned at most for a frozen baseline (a stopped machine)


def _thermal_span(reader: Any, asset: str) -> tuple[int, int] | None:
    """The time of the asset's first temperature in the store, and of the store's last."""
    from plant.readings import Modality

    span = reader.time_range(Modality.THERMAL)
    if span is None:
        return None
    for hi in (span[0] + 24 * 3600 * NS, None):  # the store's first day, else all of it
        ts = reader.read(Modality.THERMAL, asset, span[0], hi, tidy_rows=False).column("ts_ns")
        if len(ts):
            return int(np.min(ts.to_numpy())), span[1]
    return None


def _thermal_offset(
    plant: Any, reader: Any, asset: Asset, cfg: Any, coef: np.ndarray, sigma: np.ndarray
) -> ThermalOffset | None:
    from ingest.assembly import iter_windows
    from models.baseline import AssetBaselines
    from models.batch import ASSET_TYPES, make_batch

    span = _thermal_span(reader, asset.id)
    if span is None or asset.type not in ASSET_TYPES:
        return None
    inp = cfg.inputs
    spacing = int(inp.baseline_spacing_s * NS)
    period = int(inp.baseline_hours * 3600 * NS)
    start = span[0] + int(plant.windows.thermal_history_s * NS)
    end = min(span[1], start + SCAN_PERIODS * period)
    base = AssetBaselines(inp)
    p = inp.thermal_probes
    seen: list[int] = []
    # windows one per spacing from the first temperatures on, a period at a time, until the
    # baseline freezes (stopped-machine windows do not count: it can take longer than a period)
    for lo in range(start, end + 1, period):
        times = np.arange(lo, min(lo + period, end + 1), spacing, dtype=np.int64)
        found = iter_windows(plant, _ThermalOnly(reader), [asset.id], times)
        windows = [w for w in found if w is not None and w.thermal is not None]
        windows = [w for w in windows if len(w.thermal.ts_ns)]
        if not windows:
            continue
        b = make_batch(windows, inp)
        present = np.zeros_like(b.present)
        present[:, 1] = b.present[:, 1]  # thermal only: the other baselines need spectra
        vib = np.zeros((len(windows), inp.vibration_channels, 3, inp.order_bins), np.float32)
        ts = [w.ts_ns for w in windows]
        seen += ts
        ready = base.observe([asset.id] * len(windows), ts, vib, b.thermal_c, b.probe_mask,
                             b.thermal_ctx, b.image, present)  # fmt: skip
        if ready[-1, 1]:
            break
    if not seen:
        return ThermalOffset(False, np.zeros(p), np.zeros(p), 0, 0, 0)
    out = _offset_of(base, asset, coef, sigma, p, SOURCE_STORE, cfg)
    if not out.ready:  # the windows looked at, said on the page
        return dataclasses.replace(out, start_ns=seen[0], end_ns=seen[-1], windows=len(seen))
    return out


class _ThermalOnly:
    """The store as the thermal baseline reads it: temperatures and process context only (no
    waveforms or images read for windows whose other modalities it ignores)."""

    def __init__(self, reader: Any) -> None:
        self._reader = reader

    def read(self, modality: Any, *args: Any, **kwargs: Any) -> Any:
        from ingest.schema import READING_SCHEMAS
        from plant.readings import Modality

        m = Modality(modality)
        if m in (Modality.THERMAL, Modality.CONTEXT):
            return self._reader.read(m, *args, **kwargs)
        return READING_SCHEMAS[m].empty_table()


@dataclasses.dataclass(frozen=True, slots=True)
class _OffsetInput:
    asset_type: np.ndarray
    base_th_x: np.ndarray
    base_th_temp: np.ndarray
