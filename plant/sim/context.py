"""Process context: shaft speed, load, ambient and machine state, vectorised over a time grid.

Load follows three 8-hour shifts a day (06:00, 14:00, 22:00 UTC, night lighter), each with its own
level, blended over 15 minutes, plus slow process swings. Ambient follows a daily cycle (peak at
15:00 UTC) around a day-to-day mean. Machines stop ``stops_per_week`` times a week for half an
hour to a day, spend three minutes starting afterwards, and are in maintenance from functional
failure to repair. Everything is a function of absolute time and per-asset sub-streams, so any
chunking of the time axis gives the same values.
"""

from __future__ import annotations

import dataclasses
import zlib

import numpy as np

from plant.config import Asset, SimulationConfig
from plant.readings import MachineState
from plant.sim.streams import Stream, memo, substream

NS_PER_S = 1_000_000_000
HOUR_NS = 3600 * NS_PER_S
DAY_NS = 24 * HOUR_NS
SHIFT_NS = 8 * HOUR_NS
SHIFT_OFFSET_NS = 6 * HOUR_NS  # shifts start at 06:00, 14:00, 22:00 UTC
BLEND_NS = 15 * 60 * NS_PER_S
START_NS = 180 * NS_PER_S  # run-up time after a stop
MAX_STOP_H = 24.0
STATES: tuple[MachineState, ...] = (
    MachineState.RUNNING,
    MachineState.STOPPED,
    MachineState.STARTING,
    MachineState.MAINTENANCE,
)
RUNNING, STOPPED, STARTING, MAINTENANCE = range(4)


@dataclasses.dataclass(frozen=True, slots=True)
class Regime:
    """Operating-condition distributions; ``shifted`` is the domain-shift test regime."""

    shift_load_mean: tuple[float, float, float]  # morning, afternoon, night
    load_sd: float
    ambient_mean_c: float
    ambient_day_sd_c: float
    ambient_swing_c: float  # daily half-amplitude


NORMAL_REGIME = Regime((0.72, 0.68, 0.5), 0.08, 21.0, 1.5, 3.0)
SHIFTED_REGIME = Regime((0.95, 0.9, 0.8), 0.12, 30.0, 3.0, 5.5)


@dataclasses.dataclass(frozen=True, slots=True)
class ContextArrays:
    """Context on a time grid; ``state`` indexes :data:`STATES`."""

    ts_ns: np.ndarray  # (T,) int64
    shaft_speed_hz: np.ndarray  # (T,) float64
    load_fraction: np.ndarray  # (T,)
    ambient_c: np.ndarray  # (T,)
    state: np.ndarray  # (T,) int8

    @property
    def running(self) -> np.ndarray:
        return self.state == RUNNING


class ContextModel:
    """One asset's process context as a function of time."""

    def __init__(self, asset: Asset, sim: SimulationConfig, seed: int, shift: bool) -> None:
        self.asset, self.sim, self.seed = asset, sim, seed
        self.regime = SHIFTED_REGIME if shift else NORMAL_REGIME
        rng = substream(seed, asset.index, Stream.CONTEXT, 0)
        self._phase = rng.uniform(0, 2 * np.pi, size=2)
        lo, hi = asset.config.speed_rpm
        self._speed_lo_hz, self._speed_hi_hz = lo / 60.0, hi / 60.0
        self._variable_speed = (hi - lo) / hi > 0.1  # a drive, not slip of an induction motor
        self._area_key = zlib.crc32(asset.area.encode()) + (1 << 40)

    def compute(self, ts_ns: np.ndarray, maintenance: list[tuple[int, int]]) -> ContextArrays:
        t = np.asarray(ts_ns, dtype=np.int64)
        load = self._load(t)
        state, ramp = self._states(t, maintenance)
        frac = np.clip(load, 0.0, 1.0)
        if self._variable_speed:
            speed = self._speed_lo_hz + (self._speed_hi_hz - self._speed_lo_hz) * frac
        else:  # induction motor: slip grows with load
            speed = self._speed_hi_hz - (self._speed_hi_hz - self._speed_lo_hz) * frac
        moving = np.where(state == RUNNING, 1.0, np.where(state == STARTING, ramp, 0.0))
        return ContextArrays(t, speed * moving, load * moving, self._ambient(t), state)

    # ------------------------------------------------------------------ load and ambient
    @memo
    def _shift_level(self, k: int) -> float:
        rng = substream(self.seed, self.asset.index, Stream.CONTEXT, 1, k)
        mean = self.regime.shift_load_mean[k % 3]
        return float(np.clip(rng.normal(mean, self.regime.load_sd), 0.2, 1.15))

    def _load(self, t: np.ndarray) -> np.ndarray:
        k = (t - SHIFT_OFFSET_NS) // SHIFT_NS
        ks = np.unique(k)
        levels = {int(x): self._shift_level(int(x)) for x in np.concatenate([ks, ks - 1])}
        cur = np.array([levels[int(x)] for x in k])
        prev = np.array([levels[int(x) - 1] for x in k])
        into = (t - SHIFT_OFFSET_NS - k * SHIFT_NS) / BLEND_NS
        w = np.clip(into, 0.0, 1.0)
        hours = t / HOUR_NS
        swing = 0.03 * np.sin(2 * np.pi * hours / 0.62 + self._phase[0]) + 0.02 * np.sin(
            2 * np.pi * hours / 2.3 + self._phase[1]
        )
        return np.clip(prev * (1 - w) + cur * w + swing, 0.05, 1.2)

    @memo
    def _day_mean_c(self, d: int) -> float:
        rng = substream(self.seed, self._area_key, Stream.CONTEXT, 2, d)  # one room, one ambient
        return float(rng.normal(self.regime.ambient_mean_c, self.regime.ambient_day_sd_c))

    def _ambient(self, t: np.ndarray) -> np.ndarray:
        day_pos = (t - DAY_NS // 2) / DAY_NS  # 0 at noon of day 0
        d0 = np.floor(day_pos).astype(np.int64)
        w = day_pos - d0
        means = {int(x): self._day_mean_c(int(x)) for x in np.unique(np.concatenate([d0, d0 + 1]))}
        m0 = np.array([means[int(x)] for x in d0])
        m1 = np.array([means[int(x) + 1] for x in d0])
        hour = (t % DAY_NS) / HOUR_NS
        cycle = self.regime.ambient_swing_c * np.cos(2 * np.pi * (hour - 15.0) / 24.0)
        return m0 * (1 - w) + m1 * w + cycle

    # ------------------------------------------------------------------ machine state
    @memo
    def _stops_in_hour(self, h: int) -> tuple[tuple[int, int], ...]:
        rng = substream(self.seed, self.asset.index, Stream.CONTEXT, 3, h)
        n = rng.poisson(self.sim.stops_per_week / 168.0)
        out = []
        for _ in range(n):
            start = h * HOUR_NS + int(rng.uniform(0, HOUR_NS))
            dur_h = min(float(rng.lognormal(np.log(2.0), 1.0)), MAX_STOP_H)
            out.append((start, start + int(max(dur_h, 0.25) * HOUR_NS)))
        return tuple(out)

    def stops(self, t0_ns: int, t1_ns: int) -> list[tuple[int, int]]:
        """Unplanned/planned stops overlapping [t0, t1)."""
        h0 = (t0_ns - int(MAX_STOP_H * HOUR_NS)) // HOUR_NS
        h1 = t1_ns // HOUR_NS
        return [
            s
            for h in range(h0, h1 + 1)
            for s in self._stops_in_hour(h)
            if s[1] > t0_ns and s[0] < t1_ns
        ]

    def _states(
        self, t: np.ndarray, maintenance: list[tuple[int, int]]
    ) -> tuple[np.ndarray, np.ndarray]:
        state = np.full(t.shape, RUNNING, dtype=np.int8)
        ramp = np.ones(t.shape)
        if t.size == 0:
            return state, ramp
        intervals = [(a, b, STOPPED) for a, b in self.stops(int(t[0]), int(t[-1]) + 1)]
        intervals += [(a, b, MAINTENANCE) for a, b in maintenance]
        for a, b, code in sorted(intervals, key=lambda x: x[2]):  # maintenance wins
            inside = (t >= a) & (t < b)
            state[inside] = code
        for _, b, _ in intervals:
            starting = (t >= b) & (t < b + START_NS) & (state == RUNNING)
            state[starting] = STARTING
            ramp = np.where(starting, (t - b) / START_NS, ramp)
        return state, ramp
