"""Alarm flood detection per area: more than ``threshold`` alarms within ``window_s``.

ISA-18.2 takes 10 alarms in 10 minutes as what one operator can handle; past it the area is in a
flood, and the engine groups the area's new alarms under one summary alarm instead of notifying
each. The flood ends (with hysteresis) when the window holds ``clear_below`` or fewer.
"""

from __future__ import annotations

from collections import deque

from plant.config.alarms import FloodConfig

NS = 1_000_000_000


class FloodDetector:
    def __init__(self, config: FloodConfig) -> None:
        self.threshold = config.threshold
        self.clear_below = min(config.clear_below, config.threshold)
        self.window_ns = int(config.window_s * NS)
        self._times: dict[str, deque[int]] = {}
        self.flooding: set[str] = set()

    def _prune(self, area: str, now_ns: int) -> deque[int]:
        times = self._times.setdefault(area, deque())
        cutoff = now_ns - self.window_ns
        while times and times[0] <= cutoff:
            times.popleft()
        return times

    def count(self, area: str, now_ns: int) -> int:
        return len(self._prune(area, now_ns))

    def record(self, area: str, ts_ns: int) -> bool:
        """Count one alarm in ``area``; True when this alarm starts a flood there."""
        times = self._prune(area, ts_ns)
        times.append(ts_ns)
        if area not in self.flooding and len(times) > self.threshold:
            self.flooding.add(area)
            return True
        return False

    def ended(self, now_ns: int) -> list[str]:
        """Areas whose flood is over at ``now_ns`` (removed from :attr:`flooding`)."""
        over = [a for a in self.flooding if self.count(a, now_ns) <= self.clear_below]
        self.flooding.difference_update(over)
        return over
