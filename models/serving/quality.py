"""Sensor faults seen in the readings themselves: stuck, saturated and dead sensors.

A sensor fault is a data-quality alarm, never a machine alarm (DESIGN.md section 4); the alarm
engine also stops counting a faulty modality's evidence toward a machine alarm. Rules, per
sensor (each raises once and clears when the sensor reads normally again):

- **dead**: the reading's quality flag is BAD, or every value is missing (NaN);
- **stuck**: a vibration snapshot with an axis that does not move at all (peak-to-peak 0), or a
  temperature probe repeating exactly the same value ``stuck_repeats`` readings in a row;
- **saturated**: a vibration axis with more than ``saturated_fraction`` of its samples at its
  own extreme value (the clipped plateau of an overloaded accelerometer).
"""

from __future__ import annotations

import math

import numpy as np

from plant.readings import Quality, Reading, ThermalReading, VibrationSnapshot

Finding = tuple[str, str, str, int, bool]  # asset, sensor, kind, ts_ns, active


class QualityWatch:
    def __init__(self, stuck_repeats: int = 30, saturated_fraction: float = 0.05) -> None:
        self.stuck_repeats = stuck_repeats
        self.saturated_fraction = saturated_fraction
        self._same: dict[tuple[str, str, str], tuple[float, int]] = {}
        self._active: set[tuple[str, str, str]] = set()

    def check(self, r: Reading) -> list[Finding]:
        """Raised or cleared findings for this reading (usually none)."""
        h = r.header
        kinds: set[str] = set()
        if h.quality is Quality.BAD:
            kinds.add("dead")
        if isinstance(r, ThermalReading):
            values = list(r.values_c.values())
            if values and all(not math.isfinite(v) for v in values):
                kinds.add("dead")
            for ch, v in r.values_c.items():
                key = (h.asset, h.sensor, ch)
                last, n = self._same.get(key, (math.nan, 0))
                n = n + 1 if v == last else 1
                self._same[key] = (v, n)
                if n >= self.stuck_repeats:
                    kinds.add("stuck")
        elif isinstance(r, VibrationSnapshot):
            x = np.asarray(r.samples)
            if x.size and not np.isfinite(x).any():
                kinds.add("dead")
            elif x.size:
                x2 = x.reshape(-1, x.shape[-1]) if x.ndim > 1 else x[None]
                ptp = np.ptp(x2, axis=1)
                if (ptp == 0).any():
                    kinds.add("stuck")
                else:
                    peak = np.abs(x2).max(axis=1, keepdims=True)
                    at_peak = (np.abs(x2) >= peak * 0.999).mean(axis=1)
                    if (at_peak > self.saturated_fraction).any():
                        kinds.add("saturated")
        return self._changes(h.asset, h.sensor, kinds, h.ts_ns, r)

    def _changes(self, asset: str, sensor: str, kinds: set[str], ts: int, r: Reading) -> list:
        out: list[Finding] = []
        checked = {"dead", "stuck", "saturated"}
        if not isinstance(r, ThermalReading | VibrationSnapshot):
            checked = {"dead"}
        for kind in sorted(checked):
            key = (asset, sensor, kind)
            if kind in kinds and key not in self._active:
                self._active.add(key)
                out.append((asset, sensor, kind, ts, True))
            elif kind not in kinds and key in self._active:
                self._active.discard(key)
                out.append((asset, sensor, kind, ts, False))
        return out
