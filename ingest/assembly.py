"""Window assembly: readings in, per-asset multimodal windows out. Used by the live scorer AND by
training/evaluation (same code, so offline figures are the live system's figures).

Per asset, every sensor's readings are put on one timeline:

- **clock skew**: each sensor's offset against the ingest host's clock is estimated from arrival
  times (:class:`ingest.alignment.SensorClock`) and subtracted;
- **duplicates** (same sensor, epoch, seq) are ignored;
- **late / out-of-order** readings within ``late_tolerance_s`` of the sensor's newest reading are
  inserted in their place; older ones are counted and dropped;
- **staleness**: a modality whose newest reading is older than ``stale_after_periods`` x the
  sensor's publish period is absent from the window (``Window.mask``), never zero-filled;
- **thermal** history is resampled onto ``thermal_points`` times over ``thermal_history_s``
  ending at the window's time, with load, ambient, speed and running aligned to the same times;
- **notes** enter a window only if written at or before its time, within ``notes_history_s``.

``add`` is what the live scorer calls per reading (a window back for each model-input reading);
``windows_at`` evaluates an asset at fixed times from a store or a list of readings, replaying
the readings in arrival order exactly as the live path would have seen them.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence

import numpy as np

from ingest.alignment import NS_PER_S
from ingest.asset_timeline import AssetTimeline
from ingest.schema import table_to_readings
from ingest.window import Window
from plant.config import PlantConfig
from plant.readings import MODEL_MODALITIES, Modality, Reading

log = logging.getLogger(__name__)


@dataclasses.dataclass(slots=True)
class AssemblyStats:
    readings: int = 0
    windows: int = 0
    duplicates: int = 0
    too_late: int = 0
    unknown: int = 0  # readings of assets or sensors the plant config does not declare


class WindowAssembler:
    """Per-asset timelines of the plant in ``config``; see the module docstring."""

    def __init__(self, config: PlantConfig, *, max_clock_offset_s: float = 600.0) -> None:
        self.config = config
        self.cfg = config.windows
        self.max_clock_offset_s = max_clock_offset_s
        self.stats = AssemblyStats()
        self._timelines: dict[str, AssetTimeline] = {}
        self._warned: set[tuple[str, str]] = set()

    def timeline(self, asset: str) -> AssetTimeline | None:
        tl = self._timelines.get(asset)
        if tl is None:
            a = self.config.asset(asset)
            if a is None:
                return None
            tl = self._timelines[asset] = AssetTimeline(a, self.cfg, self.max_clock_offset_s)
        return tl

    def ingest(self, reading: Reading, arrival_ns: int | None = None) -> AssetTimeline | None:
        """Put ``reading`` on its asset's timeline; the timeline, or None if it was not placed."""
        self.stats.readings += 1
        tl = self.timeline(reading.header.asset)
        if tl is None:
            self._unknown(reading)
            return None
        outcome = tl.add(reading, arrival_ns)
        if outcome == "ok":
            return tl
        if outcome == "duplicate":
            self.stats.duplicates += 1
        elif outcome == "too_late":
            self.stats.too_late += 1
        else:
            self._unknown(reading)
        return None

    def _unknown(self, reading: Reading) -> None:
        self.stats.unknown += 1
        key = (reading.header.asset, reading.header.sensor)
        if key not in self._warned:
            self._warned.add(key)
            log.warning("reading of undeclared asset/sensor %s/%s ignored", *key)

    def add(self, reading: Reading, arrival_ns: int | None = None) -> Window | None:
        """Place ``reading``; for a model-input reading, the asset's window at its newest time."""
        tl = self.ingest(reading, arrival_ns)
        if tl is None or reading.modality not in MODEL_MODALITIES:
            return None
        self.stats.windows += 1
        return tl.window(tl.now_ns, trigger=reading.modality)

    def window(self, asset: str, ts_ns: int, trigger: Modality | None = None) -> Window | None:
        """The asset's window at ``ts_ns`` from what has been added so far (None: unknown asset)."""
        tl = self.timeline(asset)
        return None if tl is None else tl.window(ts_ns, trigger)

    # ------------------------------------------------------------------------ offline / restart

    def windows_at(
        self, source: object, asset: str, times_ns: Sequence[int] | np.ndarray
    ) -> list[Window]:
        """The asset's windows at ``times_ns``, from a StoreReader or a list of readings.

        Uses a fresh timeline (the live state is left alone) and replays the readings in
        arrival order (or reading time, without arrival times), so window t sees what the
        live path would have seen at t. The store is read in 6-hour chunks.
        """
        return windows_at(self.config, source, asset, times_ns, self.max_clock_offset_s)

    def rebuild_from_store(self, reader: object, now_ns: int) -> list[Window]:
        """Reload each asset's recent readings (incl. the WAL) after a restart; the latest
        window of each asset that has any data, at ``now_ns``."""
        out = []
        for asset in self.config.resolved_assets:
            tl = self.timeline(asset.id)
            assert tl is not None
            fed = 0
            for reading, arrival in _read_store(reader, tl, asset.id, now_ns):
                fed += self.ingest(reading, arrival) is not None
            if fed:
                out.append(tl.window(now_ns))
        return out


def _read_store(
    reader: object,
    tl: AssetTimeline,
    asset: str,
    hi_ns: int,
    lo_ns: int | None = None,
    anchor_ns: int | None = None,
) -> list[tuple[Reading, int | None]]:
    """Readings of ``asset`` up to ``hi_ns``: from ``lo_ns``, else from each modality's
    look-back before ``anchor_ns`` (default ``hi_ns``), with their arrival times if usable."""
    items: list[tuple[Reading, int | None]] = []
    for m in Modality:
        if m not in tl.modalities:
            continue
        anchor = hi_ns if anchor_ns is None else anchor_ns
        start = lo_ns if lo_ns is not None else anchor - tl.lookback_ns(m)
        table = reader.read(m, asset, start, hi_ns)  # type: ignore[attr-defined]
        arrivals = table.column("ingest_ns").to_numpy()
        ts = table.column("ts_ns").to_numpy()
        usable = _arrivals_usable(ts, arrivals, tl.max_offset_ns)
        for r, a in zip(table_to_readings(table), arrivals.tolist(), strict=True):
            items.append((r, a if usable else None))
    items.sort(key=lambda x: x[1] if x[1] is not None else x[0].header.ts_ns)
    return items


def _arrivals_usable(ts: np.ndarray, arrivals: np.ndarray, max_offset_ns: int) -> bool:
    """Ingest times are arrival times only if they lie near the readings' own times."""
    return ts.size > 0 and float(np.median(np.abs(ts - arrivals))) <= max_offset_ns


def windows_at(
    config: PlantConfig,
    source: object,
    asset: str,
    times_ns: Sequence[int] | np.ndarray,
    max_clock_offset_s: float = 600.0,
) -> list[Window]:
    """See :meth:`WindowAssembler.windows_at`. Windows come back in the order of ``times_ns``."""
    times = np.asarray(times_ns, dtype=np.int64)
    order = np.argsort(times, kind="stable")
    asm = WindowAssembler(config, max_clock_offset_s=max_clock_offset_s)
    tl = asm.timeline(asset)
    if tl is None:
        raise ValueError(f"asset {asset!r} is not in the plant config")
    out: list[Window | None] = [None] * len(times)
    pending = _Replay(asm, source, asset, tl)
    for i in order:
        pending.feed_until(int(times[i]))
        out[i] = tl.window(int(times[i]))
    return out  # type: ignore[return-value]


class _Replay:
    """Feeds an asset's readings to an assembler in arrival order, up to a time, chunk by chunk."""

    CHUNK_NS = 6 * 3600 * NS_PER_S  # bounds memory: a day of one asset's waveforms is ~200 MB

    def __init__(self, asm: WindowAssembler, source: object, asset: str, tl: AssetTimeline):
        self.asm, self.source, self.asset, self.tl = asm, source, asset, tl
        self.items: list[tuple[Reading, int | None]] = []
        self.pos = 0
        self.read_until: int | None = None
        if not hasattr(source, "read"):
            self.items = _sorted_readings(source, asset)
            self.read_until = np.iinfo(np.int64).max

    def feed_until(self, t_ns: int) -> None:
        margin = int((self.asm.cfg.late_tolerance_s + self.asm.max_clock_offset_s) * NS_PER_S)
        while self.read_until is None or self.read_until < t_ns + margin:
            lo = None if self.read_until is None else self.read_until + 1
            hi = (t_ns if lo is None else max(lo, t_ns)) + margin + self.CHUNK_NS
            new = _read_store(self.source, self.tl, self.asset, hi, lo, anchor_ns=t_ns)
            self.items = self.items[self.pos :] + new
            self.items.sort(key=lambda x: x[1] if x[1] is not None else x[0].header.ts_ns)
            self.pos, self.read_until = 0, hi
        while self.pos < len(self.items):
            r, arrival = self.items[self.pos]
            if (arrival if arrival is not None else r.header.ts_ns) > t_ns:
                break
            self.asm.ingest(r, arrival)
            self.pos += 1


def _sorted_readings(readings: object, asset: str) -> list[tuple[Reading, int | None]]:
    items: list[tuple[Reading, int | None]] = []
    for x in readings:  # type: ignore[attr-defined]
        r, arrival = x if isinstance(x, tuple) else (x, None)
        if r.header.asset == asset:
            items.append((r, arrival))
    items.sort(key=lambda x: x[1] if x[1] is not None else x[0].header.ts_ns)
    return items


def assemble(config: PlantConfig, readings: Iterable[Reading]) -> list[Window]:
    """Every window the live path yields for ``readings`` fed in the given order."""
    asm = WindowAssembler(config)
    return [w for r in readings if (w := asm.add(r)) is not None]
