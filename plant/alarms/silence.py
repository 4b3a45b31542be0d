"""Silent sensors and a silent monitoring chain: what has not been heard from, and since when.

A sensor is silent after ``sensor_periods`` of its publish periods (at least ``sensor_min_s``)
without a reading. Sensor watching starts with the first reading fed to the engine, so a host that
does not feed readings (replay of scored windows) is not flooded with silent-sensor alarms. The
chain is silent when no health event arrived for ``chain_s`` (scorer down, or no readings at all).
"""

from __future__ import annotations

from plant.config import PlantConfig

NS = 1_000_000_000


class SilenceWatch:
    def __init__(self, config: PlantConfig) -> None:
        s = config.alarms.silence
        self._limit_ns = {
            (a.id, x.id): int(max(s.sensor_periods * x.period_s, s.sensor_min_s) * NS)
            for a in config.resolved_assets
            for x in a.sensors
        }
        self._chain_ns = int(s.chain_s * NS)
        self._last: dict[tuple[str, str], int] = {}
        self._silent: set[tuple[str, str]] = set()
        self._feed_start_ns: int | None = None
        self._health_ns: int | None = None
        self._watch_start_ns: int | None = None
        self.chain_silent = False

    def reading_seen(self, asset: str, sensor: str, ts_ns: int) -> bool:
        """Note a reading; True when this sensor was silent (its alarm should clear)."""
        key = (asset, sensor)
        if self._feed_start_ns is None:
            self._feed_start_ns = ts_ns
        if ts_ns > self._last.get(key, 0):
            self._last[key] = ts_ns
        if key in self._silent:
            self._silent.discard(key)
            return True
        return False

    def health_seen(self, ts_ns: int) -> None:
        if self._health_ns is None or ts_ns > self._health_ns:
            self._health_ns = ts_ns

    def silent_sensors(self, now_ns: int) -> list[tuple[str, str]]:
        """Sensors that became silent since the last call."""
        if self._feed_start_ns is None:
            return []
        start = self._feed_start_ns
        newly = []
        for key, limit in self._limit_ns.items():
            if key not in self._silent and now_ns - self._last.get(key, start) > limit:
                self._silent.add(key)
                newly.append(key)
        return newly

    def chain_newly_silent(self, now_ns: int) -> str | None:
        """Once, when no health event came for ``chain_s`` (from the first tick): the reason."""
        if self._watch_start_ns is None:
            self._watch_start_ns = now_ns
        last = self._health_ns if self._health_ns is not None else self._watch_start_ns
        if self.chain_silent or now_ns - last <= self._chain_ns:
            return None
        self.chain_silent = True
        newest = max(self._last.values(), default=None)
        if newest is not None and now_ns - newest <= self._chain_ns:
            return f"readings arrive but no health for {(now_ns - last) / NS:.0f} s: scorer down"
        return f"no readings and no health for {(now_ns - last) / NS:.0f} s"
