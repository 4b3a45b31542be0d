"""Replay scored windows through the live alarm engine, on the events' clock (for ``evaluate``).

The engine is the same one ``serve`` runs, so an offline figure (alarms per asset-day, lead time,
floods) is the live system's. The clock is the replay's: each event moves it to its time, and
the engine ticks every ``tick_s`` of replayed time. The journal is off (in memory) by default.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path

from plant.alarms.engine import AlarmEngine
from plant.alarms.notify.message import Notification
from plant.config import PlantConfig
from plant.events import HealthEvent
from plant.readings import MachineState

NS = 1_000_000_000
DAY_NS = 86_400 * NS


@dataclasses.dataclass(frozen=True, slots=True)
class StateChange:
    """A machine state from process context, in replay order with the health events."""

    asset: str
    state: MachineState
    ts_ns: int


@dataclasses.dataclass(frozen=True, slots=True)
class Raised:
    alarm_id: int
    asset: str
    kind: str
    source: str  # fault class for machine alarms
    priority: str
    ts_ns: int


@dataclasses.dataclass
class ReplayResult:
    raised: list[Raised]
    floods: int
    events: int
    first_ns: int
    last_ns: int
    assets: int

    @property
    def asset_days(self) -> float:
        return self.assets * max(self.last_ns - self.first_ns, 0) / DAY_NS

    def machine(self) -> list[Raised]:
        return [r for r in self.raised if r.kind == "machine"]

    @property
    def machine_alarms_per_asset_day(self) -> float:
        days = self.asset_days
        return len(self.machine()) / days if days else 0.0


class _RaiseLog:
    """The replay's notifier: keeps every annunciated raise (flood members included)."""

    def __init__(self) -> None:
        self.raised: list[Raised] = []
        self.floods = 0

    def submit(self, note: Notification) -> None:
        a = note.alarm
        if note.event == "flood":
            self.floods += 1
        elif note.event == "raised":
            self.raised.append(
                Raised(a["id"], a["asset"], a["kind"], a["source"], a["priority"], note.ts_ns)
            )


def replay(
    config: PlantConfig,
    events: Iterable[HealthEvent | StateChange],
    *,
    journal_path: str | Path | None = None,
    tick_s: float = 60.0,
) -> ReplayResult:
    """Feed time-ordered ``events`` through a fresh engine; return what it raised."""
    now = [0]
    log = _RaiseLog()
    engine = AlarmEngine(config, journal_path, clock=lambda: now[0], notifier=log, batch=10_000)
    tick_ns, next_tick, first, count = int(tick_s * NS), None, None, 0
    for ev in events:
        now[0] = ev.ts_ns
        first = ev.ts_ns if first is None else first
        if next_tick is None:
            next_tick = ev.ts_ns + tick_ns
        elif ev.ts_ns >= next_tick:
            engine.tick(ev.ts_ns, silence=False)  # replayed windows are not a live feed
            next_tick = ev.ts_ns + tick_ns
        if isinstance(ev, HealthEvent):
            engine.on_health(ev)
        else:
            engine.on_context(ev.asset, ev.state, ev.ts_ns)
        count += 1
    engine.close()
    start = first if first is not None else 0
    return ReplayResult(log.raised, log.floods, count, start, now[0], len(config.resolved_assets))
