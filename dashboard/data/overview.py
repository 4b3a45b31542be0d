"""Server-side aggregation for the plant overview: one small document for 1,000+ assets.

Every asset becomes one tile (id, health, worst active alarm priority, stale flag); tiles are
grouped by area and sorted worst first, so the browser renders a plain grid without callbacks.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from dashboard.data.alarm_views import PRIORITIES, PRIORITY_RANK, Alarm, HealthView
from plant.config import Asset

HEALTH_WARN = 70.0  # below this an asset's tile is marked abnormal even without an alarm


@dataclasses.dataclass(frozen=True, slots=True)
class Tile:
    asset: str
    health: float | None  # None: never scored
    priority: str | None  # worst active alarm's priority
    silent: tuple[str, ...]  # sensors (or modalities) configured but silent

    @property
    def status(self) -> str:
        """The CSS class: ISA-101 keeps normal grey and colours only the abnormal."""
        if self.priority is not None:
            return f"p-{self.priority}"
        if self.health is None:
            return "unknown"
        if self.silent:
            return "silent"
        return "warn" if self.health < HEALTH_WARN else "normal"

    @property
    def sort_key(self) -> tuple[int, float, str]:
        rank = PRIORITY_RANK.get(self.priority, len(PRIORITIES)) if self.priority else 9
        health = self.health if self.health is not None else 101.0
        return (rank, health, self.asset)


@dataclasses.dataclass(frozen=True, slots=True)
class AreaBlock:
    area: str
    name: str
    tiles: tuple[Tile, ...]

    @property
    def abnormal(self) -> int:
        return sum(t.status not in ("normal", "unknown") for t in self.tiles)


@dataclasses.dataclass(frozen=True, slots=True)
class DataHealth:
    silent_sensors: tuple[tuple[str, str], ...]  # (asset, sensor id or modality)
    dead_letters: int | None  # None: the store could not say
    score_age_s: float | None  # newest health event's age; None: nothing scored yet
    ingest_lag_s: float | None = None  # arrival -> durable; None: no ingest figures
    sources_down: tuple[str, ...] = ()  # data sources that failed to answer


@dataclasses.dataclass(frozen=True, slots=True)
class Overview:
    areas: tuple[AreaBlock, ...]
    counts_by_priority: dict[str, int]
    data_health: DataHealth
    n_assets: int
    floods: tuple[str, ...] = ()  # areas in alarm flood


def silent_sensors(
    asset: Asset,
    last_seen_ns: Mapping[str, int],
    now_ns: int,
    stale_periods: float,
    since_ns: int = 0,
) -> list[str]:
    """Sensors (any modality) whose newest stored reading is overdue, from ingest's figures.

    A sensor ingest has not seen since it started (``since_ns``) counts from that start.
    """
    out = []
    for sensor in asset.sensors:
        seen = last_seen_ns.get(f"{asset.id}/{sensor.id}", since_ns)
        if (now_ns - seen) / 1e9 > sensor.period_s * stale_periods:
            out.append(sensor.id)
    return out


def silent_modalities(asset: Asset, event: HealthView | None, stale_periods: float) -> list[str]:
    """Model modalities the asset has sensors for whose newest reading is overdue (scorer view)."""
    if event is None:
        return []
    out = []
    for sensor in asset.sensors:
        m = sensor.modality.value
        if m not in event.present:
            continue
        age = event.staleness_s.get(m)
        overdue = sensor.period_s * stale_periods
        if not event.present[m] or (age is not None and age > overdue):
            out.append(m)
    return sorted(set(out))


def build_overview(
    assets: Sequence[Asset],
    area_names: Mapping[str, str],
    health: Mapping[str, HealthView],
    alarms: Iterable[Alarm],
    *,
    now_ns: int,
    dead_letters: int | None,
    last_seen_ns: Mapping[str, int] | None = None,
    ingest_lag_s: float | None = None,
    ingest_started_ns: int = 0,
    stale_periods: float = 3.0,
    floods: Sequence[str] = (),
    sources_down: Sequence[str] = (),
) -> Overview:
    active = [a for a in alarms if a.active]
    worst: dict[str, str] = {}
    for a in active:
        cur = worst.get(a.asset)
        if cur is None or PRIORITY_RANK.get(a.priority, 9) < PRIORITY_RANK.get(cur, 9):
            worst[a.asset] = a.priority
    by_area: dict[str, list[Tile]] = {}
    silent_all: list[tuple[str, str]] = []
    for asset in assets:
        ev = health.get(asset.id)
        if last_seen_ns is not None:
            found = silent_sensors(asset, last_seen_ns, now_ns, stale_periods, ingest_started_ns)
            silent = tuple(found)
        else:
            silent = tuple(silent_modalities(asset, ev, stale_periods))
        silent_all.extend((asset.id, m) for m in silent)
        tile = Tile(asset.id, ev.health if ev else None, worst.get(asset.id), silent)
        by_area.setdefault(asset.area, []).append(tile)
    blocks = [
        AreaBlock(area, area_names.get(area, area), tuple(sorted(tiles, key=lambda t: t.sort_key)))
        for area, tiles in by_area.items()
    ]
    blocks.sort(key=lambda b: (b.tiles[0].sort_key if b.tiles else (9, 101.0, ""), b.area))
    newest = max((ev.ts_ns for ev in health.values()), default=None)
    score_age_s = (now_ns - newest) / 1e9 if newest is not None else None
    counts = Counter(a.priority for a in active)
    return Overview(
        areas=tuple(blocks),
        counts_by_priority={p: counts.get(p, 0) for p in PRIORITIES},
        data_health=DataHealth(
            tuple(silent_all), dead_letters, score_age_s, ingest_lag_s, tuple(sources_down)
        ),
        n_assets=len(assets),
        floods=tuple(floods),
    )
