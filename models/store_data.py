"""From a store (``plantwatch generate`` or ingest) to a cached training :class:`Dataset`.

Windows come from ``ingest.assembly.iter_windows``, the assembly the live scorer uses, at a fixed
interval per asset (DESIGN.md §3), after one thermal look-back of warm-up: one replay of the
store for all assets at once, in time order, so per-asset baselines (models/baseline.py) build
as they would live. The featurised arrays are cached beside the registry, keyed by the store, the
plant and the input settings.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ingest.window import Window
from models.baseline import AssetBaselines
from models.config import ModelConfig
from models.dataset import (
    Dataset,
    build_dataset,
    load_dataset,
    newest_note_times,
    relabel,
    save_dataset,
)
from models.progress import Progress
from plant.config import PlantConfig
from plant.readings import Modality

log = logging.getLogger(__name__)
NS = 1_000_000_000


def window_times(t0_ns: int, t1_ns: int, interval_s: float, warmup_s: float) -> np.ndarray:
    start = t0_ns + int(warmup_s * NS)
    return np.arange(start, t1_ns + 1, int(interval_s * NS), dtype=np.int64)


def _windows(
    plant: PlantConfig, reader, assets: list[str], times: np.ndarray, bar: Progress
) -> Iterator[Window]:
    from ingest.assembly import iter_windows

    for i, w in enumerate(iter_windows(plant, reader, assets, times)):
        if (i + 1) % len(assets) == 0:
            bar.update(len(assets))
        if w is not None:
            yield w


FEATURES_VERSION = 5  # bump when Features or the dataset's baselines change


def cache_key(data: Path, plant: PlantConfig, cfg: ModelConfig) -> str:
    """Store path, what shapes the windows (assets and window settings) and input settings;
    other plant sections (broker, store upkeep, ...) do not change the windows."""
    h = hashlib.sha256()
    h.update(f"features-v{FEATURES_VERSION}".encode())
    h.update(str(Path(data).resolve()).encode())
    h.update(plant.windows.model_dump_json().encode())
    for a in plant.resolved_assets:
        h.update(f"{a.id}:{a.config.type}:{len(a.sensors)}".encode())
    h.update(cfg.inputs.model_dump_json().encode())
    h.update(f"{cfg.train.interval_s}:{cfg.train.max_windows}".encode())
    return h.hexdigest()[:16]


def load_store_dataset(
    data: Path, plant: PlantConfig, cfg: ModelConfig, cache_dir: Path | None = None
) -> Dataset:
    """Labelled, featurised windows of every asset in the store (cached when ``cache_dir``)."""
    from ingest.store.reader import StoreReader

    cache = None if cache_dir is None else cache_dir / f"dataset-{cache_key(data, plant, cfg)}.npz"
    if cache is not None and cache.is_file():
        log.info("using cached windows %s (labels recomputed from the store)", cache)
        reader = StoreReader(data)
        ds = load_dataset(cache)
        notes = reader.read(Modality.NOTES, tidy_rows=False).select(["asset", "ts_ns"])
        note_ns = newest_note_times(
            notes.column("asset").to_numpy(zero_copy_only=False),
            notes.column("ts_ns").to_numpy(),
            ds.labels.asset,
            ds.labels.ts_ns,
            int(plant.windows.notes_history_s * 1e9),
        )
        return relabel(ds, reader.labels(), note_ns)
    reader = StoreReader(data)
    span = reader.time_range()
    if span is None:
        raise ValueError(f"{data}: the store has no readings; run `plantwatch generate` first")
    known = {a.id for a in plant.resolved_assets}
    assets = [a for a in reader.assets() if a in known]
    if not assets:
        raise ValueError(f"{data}: none of its assets is in the plant config; pass --config")
    times = window_times(*span, cfg.train.interval_s, plant.windows.thermal_history_s)
    per_asset = max(1, cfg.train.max_windows // len(assets))
    if len(times) > per_asset:  # keep the cap by spacing windows further apart, never by asset
        times = times[np.linspace(0, len(times) - 1, per_asset).round().astype(int)]
    log.info("%d assets x %d windows from %s", len(assets), len(times), data)
    bar = Progress(len(assets) * len(times), "windows")
    baselines = AssetBaselines(cfg.inputs)
    ds = build_dataset(
        _windows(plant, reader, assets, times, bar), reader.labels(), cfg, baselines=baselines
    )
    bar.close()
    if cache is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)  # type: ignore[union-attr]
        save_dataset(ds, cache)
    return ds
