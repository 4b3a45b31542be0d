"""Raising, clearing, journaling and notifying alarms: the engine's internal lifecycle.

A mixin of :class:`plant.alarms.engine.AlarmEngine` (``self`` is the engine, called under its
lock). One open alarm per (kind, asset, source): a condition that returns on an open alarm
re-raises it (counted in ``activations``) instead of opening another.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from plant.alarms.model import (
    FLOOD_ASSET,
    SYSTEM_AREA,
    Alarm,
    AlarmKind,
    JournalEntry,
    Priority,
)
from plant.alarms.notify.message import Notification
from plant.alarms.persistence import Persistence
from plant.alarms.priority import KIND_PRIORITY
from plant.events import HealthEvent

if TYPE_CHECKING:
    from plant.alarms.engine import AlarmEngine

log = logging.getLogger(__name__)
CHAIN = "chain"  # asset and source of the silent-chain alarm raised by tick()


class Lifecycle:
    # -- raising and clearing --------------------------------------------------------------
    def _raise_machine(self: AlarmEngine, ev: HealthEvent) -> None:
        fault = ev.fault_class if ev.fault_class != "normal" else "anomaly"
        prio = self.priority.machine(ev.health, ev.p_value, ev.fault_class)
        alarm = self._raise(AlarmKind.MACHINE, ev.asset, fault, ev.ts_ns, evidence=ev, prio=prio)
        if alarm is not None:
            self.machine_activations += 1

    def _escalate(self: AlarmEngine, ev: HealthEvent) -> None:
        """While a machine alarm stands, a worse health or p-value raises its priority."""
        prio = self.priority.machine(ev.health, ev.p_value, ev.fault_class)
        if prio is Priority.LOW:
            return
        for alarm in self._asset_alarms(ev.asset, AlarmKind.MACHINE):
            if alarm.active and prio > alarm.priority:
                before, alarm.priority = alarm.state, prio
                self._set_evidence(alarm, ev)
                detail = {"priority": prio.label}
                event = "escalated" if alarm.annunciated else None
                self._record(alarm, "escalate", before, ev.ts_ns, notify=event, detail=detail)

    def _clear_machine(self: AlarmEngine, asset: str, ev: HealthEvent) -> None:
        for alarm in self._asset_alarms(asset, AlarmKind.MACHINE):
            if alarm.active:
                self._set_evidence(alarm, ev)
                self._deactivate(alarm, ev.ts_ns)

    def _raise(
        self: AlarmEngine,
        kind: AlarmKind,
        asset: str,
        source: str,
        ts_ns: int,
        area: str | None = None,
        *,
        evidence: HealthEvent | None = None,
        prio: object = None,
        why: str = "",
    ) -> Alarm | None:
        """Raise (or re-raise) the one open alarm for (kind, asset, source); None if active."""
        alarm = self._open.get((kind.value, asset, source))
        if alarm is not None and alarm.active:
            return None
        priority = prio if prio is not None else KIND_PRIORITY[kind]
        if alarm is None:
            area = area or self._area.get(asset, SYSTEM_AREA)
            alarm = Alarm(
                self._next_id, kind, self.site, area, asset, source, priority, ts_ns, ts_ns
            )
            self._next_id += 1
            self._alarms[alarm.id] = alarm
            self._open[alarm.key] = alarm
            before = "normal"
            alarm.out_of_service = asset in self._maintenance
        else:
            before = alarm.state.value
            alarm.active, alarm.acked, alarm.priority = True, False, priority  # type: ignore[assignment]
            alarm.activations += 1
        if evidence is not None:
            self._set_evidence(alarm, evidence)
        self._record(alarm, "raise", before, ts_ns, comment=why, notify=None)
        self.activations += 1
        self._after_raise(alarm, ts_ns)
        return alarm

    def _after_raise(self: AlarmEngine, alarm: Alarm, ts_ns: int) -> None:
        """Flood accounting and notification of a new activation."""
        if alarm.kind is AlarmKind.FLOOD:
            self._notify("flood", alarm, ts_ns)
            return
        starts = self.flood.record(alarm.area, ts_ns)
        if starts:
            self._raise(AlarmKind.FLOOD, FLOOD_ASSET, alarm.area, ts_ns, alarm.area)
        flood = self._open.get((AlarmKind.FLOOD.value, FLOOD_ASSET, alarm.area))
        grouped = alarm.area in self.flood.flooding and flood is not None
        if grouped:
            flood.members.append(alarm.id)  # type: ignore[union-attr]
            self.journal.save(flood)  # type: ignore[arg-type]
        if alarm.annunciated:
            self._notify("raised", alarm, ts_ns, grouped=grouped)

    def _clear(self: AlarmEngine, kind: AlarmKind, asset: str, source: str, ts_ns: int) -> None:
        alarm = self._open.get((kind.value, asset, source))
        if alarm is not None and alarm.active:
            self._deactivate(alarm, ts_ns)

    def _clear_chain(self: AlarmEngine, ts_ns: int) -> None:
        self.silence.chain_silent = False
        self._clear(AlarmKind.SILENT_CHAIN, CHAIN, CHAIN, ts_ns)
        self.journal.flush()

    def _deactivate(self: AlarmEngine, alarm: Alarm, ts_ns: int) -> None:
        before = alarm.state
        alarm.active = False
        event = "flood_end" if alarm.kind is AlarmKind.FLOOD else "cleared"
        self._record(alarm, "clear", before, ts_ns, notify=event)

    def _set_evidence(self: AlarmEngine, alarm: Alarm, ev: HealthEvent) -> None:
        alarm.p_value, alarm.health, alarm.model_version = ev.p_value, ev.health, ev.model_version
        if ev.explanation:
            alarm.explanation = dict(ev.explanation)

    def _persistence(self: AlarmEngine, asset: str) -> Persistence:
        p = self._persist.get(asset)
        if p is None:
            p = self._persist[asset] = Persistence(self.settings.persistence)
        return p

    def _reset_persistence(self: AlarmEngine, asset: str) -> None:
        p = self._persist.get(asset)
        if p is not None:
            p.reset()

    # -- journal and notification ----------------------------------------------------------
    def _record(
        self: AlarmEngine,
        alarm: Alarm,
        action: str,
        before: object,
        ts_ns: int,
        who: str = "engine",
        comment: str = "",
        notify: str | None = "changed",
        detail: dict | None = None,
    ) -> None:
        alarm.updated_ns = max(alarm.updated_ns, ts_ns)
        entry = JournalEntry(
            alarm.id,
            ts_ns,
            action,
            getattr(before, "value", str(before)),
            alarm.state.value,
            who,
            comment,
            alarm.model_version,
            alarm.p_value,
            detail,
        )
        self.journal.save(alarm, entry)
        if notify is not None:
            self._notify(notify, alarm, ts_ns)

    def _notify(
        self: AlarmEngine, event: str, alarm: Alarm, ts_ns: int, grouped: bool = False
    ) -> None:
        if self.notifier is None:
            return
        mine = tuple(a.to_dict() for a in self._open.values() if a.asset == alarm.asset)
        link = f"{self.settings.api.dashboard_url.rstrip('/')}/alarm/{alarm.id}"
        note = Notification(event, alarm.to_dict(), mine, self.site, link, ts_ns, grouped)
        try:
            self.notifier.submit(note)
        except Exception:  # a notifier must never take the engine down
            log.exception("notifier refused alarm %s (%s)", alarm.id, event)

    def _asset_alarms(self: AlarmEngine, asset: str, kind: AlarmKind | None = None) -> list[Alarm]:
        return [
            a for a in self._open.values() if a.asset == asset and (kind is None or a.kind is kind)
        ]
