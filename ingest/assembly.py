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
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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

        Uses a fresh assembler (the live state is left alone) and replays the readings in
        arrival order (or reading time, without arrival times), so window t sees what the
        live path would have seen at t. For many assets use :func:`iter_windows`, which reads
        the store once for all of them.
        """
        return windows_at(self.config, source, asset, times_ns, self.max_clock_offset_s)

    def rebuild_from_store(self, reader: object, now_ns: int) -> list[Window]:
        """Reload every asset's recent readings (incl. the WAL) after a restart; the latest
        window at ``now_ns`` of each asset that has any data. Each modality is read once for
        all assets (raw ones in 10-minute slices, to bound memory)."""
        assets = {a.id for a in self.config.resolved_assets}
        fed: set[str] = set()
        for m in Modality:
            back = max((tl.lookback_ns(m) for tl in self._all_timelines() if m in tl.modalities),
                       default=0)  # fmt: skip
            if not back:
                continue
            step = RAW_SLICE_NS if m in RAW else back + 1
            for lo in range(now_ns - back, now_ns + 1, step):
                for r, arrival in _read_items(reader, m, assets, lo, min(lo + step - 1, now_ns),
                                              self.max_clock_offset_s):  # fmt: skip
                    if self.ingest(r, arrival) is not None:
                        fed.add(r.header.asset)
        return [self._timelines[a].window(now_ns) for a in sorted(fed)]

    def _all_timelines(self) -> list[AssetTimeline]:
        return [tl for a in self.config.resolved_assets if (tl := self.timeline(a.id))]


RAW = (Modality.VIBRATION, Modality.CAMERA)
RAW_SLICE_NS = 600 * NS_PER_S
Item = tuple[Reading, int | None]


def _key(item: Item) -> int:
    return item[1] if item[1] is not None else item[0].header.ts_ns


def _read_items(
    reader: object, m: Modality, assets: set[str], lo_ns: int, hi_ns: int, max_offset_s: float
) -> list[Item]:
    """Readings of ``m`` of ``assets`` with lo <= ts <= hi, with arrival times where usable."""
    few = sorted(assets) if len(assets) <= 256 else None  # else read all, filter here
    table = reader.read(m, few, lo_ns, hi_ns, tidy_rows=False)  # type: ignore[attr-defined]
    if few is None and table.num_rows:
        asset_col = pc.cast(table.column("asset"), pa.string())
        table = table.filter(pc.is_in(asset_col, pa.array(sorted(assets))))
    arrivals = table.column("ingest_ns").to_numpy()
    usable = _arrivals_usable(table.column("ts_ns").to_numpy(), arrivals, max_offset_s)
    readings = table_to_readings(table)
    items: list[Item] = (
        list(zip(readings, arrivals.tolist(), strict=True))
        if usable
        else [(r, None) for r in readings]
    )
    items.sort(key=_key)  # stored rows come in any order (WAL first, row groups by asset)
    return items


def _arrivals_usable(ts: np.ndarray, arrivals: np.ndarray, max_offset_s: float) -> bool:
    """Ingest times are arrival times only if they lie near the readings' own times."""
    return ts.size > 0 and float(np.median(np.abs(ts - arrivals))) <= max_offset_s * NS_PER_S


def iter_windows(
    config: PlantConfig,
    source: object,
    assets: Sequence[str],
    times_ns: Sequence[int] | np.ndarray,
    max_clock_offset_s: float = 600.0,
) -> Iterator[Window]:
    """Windows of ``assets`` at each of ``times_ns`` (ascending time, then the assets' order),
    from a StoreReader (read once for all assets, in 6-hour chunks) or a list of readings
    (optionally ``(reading, arrival_ns)`` pairs). See :meth:`WindowAssembler.windows_at`."""
    asm = WindowAssembler(config, max_clock_offset_s=max_clock_offset_s)
    timelines = []
    for a in assets:
        tl = asm.timeline(a)
        if tl is None:
            raise ValueError(f"asset {a!r} is not in the plant config")
        timelines.append(tl)
    feeder = _Replay(asm, source, set(assets), timelines)
    for t in np.sort(np.asarray(times_ns, dtype=np.int64)).tolist():
        feeder.feed_until(t)
        for tl in timelines:
            yield tl.window(t)


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
    out: list[Window | None] = [None] * len(times)
    for i, w in zip(order, iter_windows(config, source, [asset], times, max_clock_offset_s),
                    strict=True):  # fmt: skip
        out[i] = w
    return out  # type: ignore[return-value]


class _Replay:
    """Feeds readings to an assembler in arrival order up to a time, reading chunk by chunk."""

    CHUNK_NS = 6 * 3600 * NS_PER_S  # bounds memory: a day of one asset's waveforms is ~200 MB

    def __init__(
        self, asm: WindowAssembler, source: object, assets: set[str], tls: list[AssetTimeline]
    ) -> None:
        self.asm, self.source, self.assets, self.tls = asm, source, assets, tls
        self.items: list[Item] = []
        self.pos = 0
        self.read_until: int | None = None
        if not hasattr(source, "read"):
            self.items = _sorted_readings(source, assets)
            self.read_until = np.iinfo(np.int64).max

    def _lookback(self, m: Modality) -> int | None:
        backs = [tl.lookback_ns(m) for tl in self.tls if m in tl.modalities]
        return max(backs) if backs else None

    def _read(self, lo: int | None, hi: int, anchor: int) -> list[Item]:
        new: list[Item] = []
        for m in Modality:
            back = self._lookback(m)
            if back is None:
                continue
            start = anchor - back if lo is None else lo
            new += _read_items(self.source, m, self.assets, start, hi, self.asm.max_clock_offset_s)
        return new

    def feed_until(self, t_ns: int) -> None:
        margin = int((self.asm.cfg.late_tolerance_s + self.asm.max_clock_offset_s) * NS_PER_S)
        while self.read_until is None or self.read_until < t_ns + margin:
            lo = None if self.read_until is None else self.read_until + 1
            hi = (t_ns if lo is None else max(lo, t_ns)) + margin + self.CHUNK_NS
            self.items = self.items[self.pos :] + self._read(lo, hi, t_ns)
            self.items.sort(key=_key)
            self.pos, self.read_until = 0, hi
        while self.pos < len(self.items) and _key(self.items[self.pos]) <= t_ns:
            self.asm.ingest(*self.items[self.pos])
            self.pos += 1


def _sorted_readings(readings: object, assets: set[str]) -> list[Item]:
    items: list[Item] = []
    for x in readings:  # type: ignore[attr-defined]
        r, arrival = x if isinstance(x, tuple) else (x, None)
        if r.header.asset in assets:
            items.append((r, arrival))
    items.sort(key=_key)
    return items


def assemble(config: PlantConfig, readings: Iterable[Reading]) -> list[Window]:
    """Every window the live path yields for ``readings`` fed in the given order."""
    asm = WindowAssembler(config)
    return [w for r in readings if (w := asm.add(r)) is not None]
