"""One asset's readings on one timeline, and the window at any time: see ingest.assembly."""

from __future__ import annotations

import numpy as np

from ingest.alignment import NS_PER_S, Latest, RecentSeqs, SensorClock, Series
from ingest.window import ThermalSeries, Window
from plant.config import Asset, WindowConfig
from plant.config.assets import SensorConfig
from plant.physics.bearing import kinematic_orders
from plant.readings import (
    CameraImage,
    ContextReading,
    MachineState,
    Modality,
    OperatorNote,
    Reading,
    ThermalReading,
    VibrationSnapshot,
)

_CTX_WIDTH = 4  # shaft_speed_hz, load_fraction, ambient_c, running


class AssetTimeline:
    """Buffers of one asset's readings on the ingest host's clock; ``window(t)`` at any t."""

    def __init__(self, asset: Asset, cfg: WindowConfig, max_clock_offset_s: float) -> None:
        self.asset = asset
        self.cfg = cfg
        self.orders = kinematic_orders(asset.config.bearing, asset.config.gear)
        self.max_offset_ns = int(max_clock_offset_s * NS_PER_S)
        self.sensors: dict[str, SensorConfig] = {s.id: s for s in asset.sensors}
        self.modalities = {s.modality for s in asset.sensors}
        self.period_ns = {
            m: int(min(s.period_s for s in asset.sensors if s.modality is m) * NS_PER_S)
            for m in self.modalities
        }
        self.late_ns = int(cfg.late_tolerance_s * NS_PER_S)
        self.history_ns = int(cfg.thermal_history_s * NS_PER_S)
        self.notes_ns = int(cfg.notes_history_s * NS_PER_S)
        self.clocks = {sid: SensorClock(max_offset_s=max_clock_offset_s) for sid in self.sensors}
        self.seqs = {sid: RecentSeqs() for sid in self.sensors}
        self.newest: dict[str, int] = {}
        horizon = self.history_ns + self.late_ns + 2 * self.period_ns.get(Modality.THERMAL, 0)
        self.thermal_sensors = [s for s in asset.sensors if s.modality is Modality.THERMAL]
        self.thermal = {s.id: Series(len(s.channels), horizon) for s in self.thermal_sensors}
        ctx_horizon = horizon + 2 * self.period_ns.get(Modality.CONTEXT, 0)
        self.context = Series(_CTX_WIDTH, ctx_horizon)
        self.latest_context: Latest[ContextReading] = Latest()
        self.vibration: Latest[VibrationSnapshot] = Latest()
        self.camera: Latest[CameraImage] = Latest()
        self.notes: Latest[OperatorNote] = Latest(keep=1024)
        self.now_ns: int = np.iinfo(np.int64).min

    def lookback_ns(self, m: Modality) -> int:
        """How far before a window's time a modality's readings can still matter."""
        stale = int(self.cfg.stale_after_periods * self.period_ns.get(m, 0))
        if m in (Modality.THERMAL, Modality.CONTEXT):
            return max(stale, self.history_ns) + self.late_ns + 2 * self.period_ns[m]
        if m is Modality.NOTES:
            return max(stale, self.notes_ns)
        return stale + self.late_ns

    # ------------------------------------------------------------------------ placing readings

    def add(self, r: Reading, arrival_ns: int | None) -> str:
        """Place ``r``: "ok", "duplicate", "too_late" or "unknown" (undeclared sensor)."""
        h = r.header
        if h.sensor not in self.sensors or self.sensors[h.sensor].modality is not r.modality:
            return "unknown"
        if self.seqs[h.sensor].seen((h.epoch, h.seq)):
            return "duplicate"
        clock = self.clocks[h.sensor]
        if arrival_ns is not None:
            clock.observe(h.ts_ns, arrival_ns)
        t = clock.correct(h.ts_ns)
        newest = self.newest.get(h.sensor)
        if newest is not None and t < newest - self.late_ns:
            return "too_late"
        self.newest[h.sensor] = t if newest is None else max(newest, t)
        self._place(r, t)
        self.now_ns = max(self.now_ns, t)
        return "ok"

    def _place(self, r: Reading, t: int) -> None:
        match r:
            case ThermalReading():
                chans = self.sensors[r.header.sensor].channels
                row = [r.values_c.get(c, np.nan) for c in chans]
                self.thermal[r.header.sensor].add(t, row)
            case ContextReading():
                running = float(r.state is MachineState.RUNNING)
                self.context.add(t, [r.shaft_speed_hz, r.load_fraction, r.ambient_c, running])
                self.latest_context.add(t, r)
            case VibrationSnapshot():
                self.vibration.add(t, r)
            case CameraImage():
                self.camera.add(t, r)
            case OperatorNote():
                self.notes.add(t, r)
                self.notes.drop_before(t - self.notes_ns - self.late_ns)

    # ------------------------------------------------------------------------ the window

    def _fresh(self, m: Modality, seen_ns: int | None, t: int) -> bool:
        if seen_ns is None:
            return False
        return t - seen_ns <= self.cfg.stale_after_periods * self.period_ns[m]

    def window(self, t: int, trigger: Modality | None = None) -> Window:
        """The window at ``t``: only readings at or before ``t``, stale modalities absent."""
        staleness: dict[Modality, float] = {}
        vib = self._latest(Modality.VIBRATION, self.vibration, t, staleness)
        cam = self._latest(Modality.CAMERA, self.camera, t, staleness)
        ctx_item = self.latest_context.at(t)
        ctx = None
        if ctx_item and self._fresh(Modality.CONTEXT, ctx_item[0], t):
            ctx = ctx_item[1]
        notes = tuple(self.notes.between(t - self.notes_ns, t))
        if notes:
            staleness[Modality.NOTES] = (t - self._note_time(t)) / NS_PER_S
        return Window(
            asset=self.asset.id,
            asset_type=self.asset.type,
            ts_ns=int(t),
            vibration=vib,
            thermal=self._thermal(t, staleness),
            camera=cam,
            notes=notes,
            context=ctx,
            staleness_s=staleness,
            trigger=trigger,
            kinematic_orders=self.orders,
        )

    def _note_time(self, t: int) -> int:
        item = self.notes.at(t)
        assert item is not None
        return item[0]

    def _latest(self, m: Modality, buf: Latest, t: int, staleness: dict) -> object | None:
        item = buf.at(t)
        if item is None:
            return None
        staleness[m] = (t - item[0]) / NS_PER_S
        return item[1] if self._fresh(m, item[0], t) else None

    def _thermal(self, t: int, staleness: dict[Modality, float]) -> ThermalSeries | None:
        if not self.thermal_sensors:
            return None
        views = [self.thermal[s.id].until(t) for s in self.thermal_sensors]
        newest = max((int(ts[-1]) for ts, _ in views if ts.size), default=None)
        if newest is None:
            return None
        staleness[Modality.THERMAL] = (t - newest) / NS_PER_S
        if not self._fresh(Modality.THERMAL, newest, t):
            return None
        grid = self._grid(t, views)
        temps = [_interp_rows(grid, ts, vals) for ts, vals in views]
        ctx_ts, ctx_vals = self.context.until(t)
        multi = len(self.thermal_sensors) > 1
        channels = tuple(
            f"{s.id}.{c}" if multi else c for s in self.thermal_sensors for c in s.channels
        )
        speed, load, ambient, running = _context_at(grid, ctx_ts, ctx_vals)
        return ThermalSeries(
            ts_ns=grid,
            channels=channels,
            temperature_c=np.concatenate(temps, axis=1).astype(np.float32),
            load_fraction=load,
            ambient_c=ambient,
            shaft_speed_hz=speed,
            running=running,
        )

    def _grid(self, t: int, views: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """``thermal_points`` times ending at ``t``; those before any sensor's data dropped."""
        n = self.cfg.thermal_points
        grid = t - self.history_ns + (self.history_ns * np.arange(1, n + 1, dtype=np.int64)) // n
        start = max(int(ts[0]) if ts.size else t for ts, _ in views)
        keep = grid >= min(start, t)
        return grid[keep]


def _interp_rows(grid: np.ndarray, ts: np.ndarray, vals: np.ndarray) -> np.ndarray:
    """(len(grid), width) linear interpolation per column (flat beyond the ends).

    Missing values (NaN) are skipped per column; a column with no value at all stays NaN (a dead
    probe is visible, not invented).
    """
    k = max(0, int(np.searchsorted(ts, grid[0], side="right")) - 1)  # only the rows needed
    ts, vals = ts[k:], vals[k:]
    x = (grid - ts[0]).astype(np.float64)  # relative times keep ns precision in float64
    xs = (ts - ts[0]).astype(np.float64)
    if not np.isnan(vals).any():  # every column at once (SV: serve's hot path)
        if xs.size == 1:  # np.interp of one point is that point everywhere
            return np.repeat(np.asarray(vals, np.float64), grid.size, axis=0)
        return _interp_all(x, xs, np.asarray(vals, np.float64))
    out = np.empty((grid.size, vals.shape[1]))
    for j in range(vals.shape[1]):
        col = vals[:, j]
        ok = col == col  # not NaN
        if ok.all():
            out[:, j] = np.interp(x, xs, col)
        elif ok.any():
            out[:, j] = np.interp(x, xs[ok], col[ok])
        else:
            out[:, j] = np.nan
    return out


def _interp_all(x: np.ndarray, xs: np.ndarray, vals: np.ndarray) -> np.ndarray:
    """``np.interp`` of every column of ``vals`` (finite, ``xs`` increasing, >= 2 rows) at ``x``:
    the same arithmetic as numpy's own (slope x offset + left value; the end values beyond
    the ends and at a knot), one search for all columns."""
    n = xs.size
    j = np.clip(np.searchsorted(xs, x, side="right") - 1, 0, n - 2)
    x0 = xs[j]
    slope = (vals[j + 1] - vals[j]) / (xs[j + 1] - x0)[:, None]
    out = slope * (x - x0)[:, None] + vals[j]
    at_knot = x == x0
    out[at_knot] = vals[j[at_knot]]
    out[x <= xs[0]] = vals[0]
    out[x >= xs[-1]] = vals[-1]
    return out


def _context_at(
    grid: np.ndarray, ts: np.ndarray, vals: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Speed, load, ambient (linear) and running (last state at or before) at ``grid`` times.

    Without any context reading the values are NaN and running False (unknown, not invented).
    """
    if ts.size == 0:
        nan = np.full(grid.size, np.nan, dtype=np.float32)
        return nan, nan.copy(), nan.copy(), np.zeros(grid.size, dtype=bool)
    rows = _interp_rows(grid, ts, vals).astype(np.float32)
    prev = np.maximum(np.searchsorted(ts, grid, side="right") - 1, 0)
    return rows[:, 0], rows[:, 1], rows[:, 2], vals[prev, 3] > 0.5
