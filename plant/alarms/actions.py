"""What people do to alarms (acknowledge, shelve, comment, close, maintenance) and what they read.

A mixin of :class:`plant.alarms.engine.AlarmEngine`: every change goes through the engine's lock
and journal, so the API (and the dashboard behind it) never writes the journal itself. An action
that does not apply to the alarm's state raises :class:`AlarmConflictError` and changes nothing.
"""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING, Any

from plant.alarms.model import Alarm, AlarmKind, AlarmState, JournalEntry, Outcome, Priority

if TYPE_CHECKING:
    from plant.alarms.engine import AlarmEngine

NS = 1_000_000_000


class AlarmNotFoundError(LookupError):
    """No alarm (or asset) with that id."""


class AlarmConflictError(ValueError):
    """The action does not apply to the alarm in its current state; nothing was changed."""


class OperatorActions:
    """Operator and engineer actions; ``self`` is the engine."""

    def _find(self: AlarmEngine, alarm_id: int) -> Alarm:
        alarm = self._alarms.get(alarm_id)
        if alarm is None:
            raise AlarmNotFoundError(f"no alarm {alarm_id}")
        return alarm

    def _open_alarm(self: AlarmEngine, alarm_id: int, action: str) -> Alarm:
        alarm = self._find(alarm_id)
        if alarm.closed:
            raise AlarmConflictError(f"alarm {alarm_id} is closed; it cannot be {action}")
        return alarm

    def acknowledge(self: AlarmEngine, alarm_id: int, who: str, comment: str = "") -> Alarm:
        with self._lock:
            alarm = self._open_alarm(alarm_id, "acknowledged")
            if alarm.acked:
                raise AlarmConflictError(f"alarm {alarm_id} is already acknowledged")
            before = alarm.state
            alarm.acked = True
            self._record(alarm, "acknowledge", before, self.clock(), who, comment)
            self.journal.flush()
            return alarm

    def shelve(
        self: AlarmEngine, alarm_id: int, duration_s: float, who: str, comment: str = ""
    ) -> Alarm:
        limit = self.settings.api.max_shelve_s
        if not 0 < duration_s <= limit:
            raise AlarmConflictError(f"shelve duration {duration_s} s must be in (0, {limit:g}] s")
        with self._lock:
            alarm = self._open_alarm(alarm_id, "shelved")
            if alarm.out_of_service:
                raise AlarmConflictError(f"alarm {alarm_id} is out of service: not shelvable")
            before, now = alarm.state, self.clock()
            alarm.shelved_until_ns = now + int(duration_s * NS)
            detail = {"until_ns": alarm.shelved_until_ns}
            self._record(alarm, "shelve", before, now, who, comment, detail=detail)
            self.journal.flush()
            return alarm

    def unshelve(self: AlarmEngine, alarm_id: int, who: str, comment: str = "") -> Alarm:
        with self._lock:
            alarm = self._open_alarm(alarm_id, "unshelved")
            if alarm.shelved_until_ns is None:
                raise AlarmConflictError(f"alarm {alarm_id} is not shelved")
            self._unshelve(alarm, self.clock(), who, comment, "unshelve")
            self.journal.flush()
            return alarm

    def _unshelve(
        self: AlarmEngine, alarm: Alarm, ts_ns: int, who: str, comment: str, action: str
    ) -> None:
        before = alarm.state
        alarm.shelved_until_ns = None
        again = alarm.annunciated and alarm.state is AlarmState.UNACKNOWLEDGED
        self._record(alarm, action, before, ts_ns, who, comment, notify=None)
        # Back from the shelf while still standing and unacknowledged: annunciate it again.
        self._notify("raised" if again else "changed", alarm, ts_ns)

    def set_out_of_service(
        self: AlarmEngine, alarm_id: int, out: bool, who: str, comment: str = ""
    ) -> Alarm:
        """Take one alarm out of service (e.g. a broken instrument) or return it to service."""
        with self._lock:
            alarm = self._open_alarm(alarm_id, "taken out of service")
            if alarm.out_of_service == out:
                state = "out of service" if out else "in service"
                raise AlarmConflictError(f"alarm {alarm_id} is already {state}")
            if not out and alarm.asset in self._maintenance:
                raise AlarmConflictError(f"asset {alarm.asset} is in maintenance: end it first")
            before = alarm.state
            alarm.out_of_service = out
            if out:
                alarm.shelved_until_ns = None
            again = not out and alarm.annunciated and alarm.state is AlarmState.UNACKNOWLEDGED
            action = "out_of_service" if out else "return_to_service"
            self._record(alarm, action, before, self.clock(), who, comment, notify=None)
            self._notify("raised" if again else "changed", alarm, self.clock())
            self.journal.flush()
            return alarm

    def comment(self: AlarmEngine, alarm_id: int, who: str, comment: str) -> Alarm:
        with self._lock:
            alarm = self._find(alarm_id)
            state = alarm.state
            self._record(alarm, "comment", state, self.clock(), who, comment, notify=None)
            self.journal.flush()
            return alarm

    def close_alarm(
        self: AlarmEngine,
        alarm_id: int,
        outcome: Outcome | str,
        who: str,
        comment: str = "",
        fault_class: str | None = None,
    ) -> Alarm:
        """Close with the outcome: a confirmed fault (and which), a false alarm, ..."""
        outcome = Outcome(outcome)
        if (outcome is Outcome.CONFIRMED_FAULT) != (fault_class is not None):
            raise AlarmConflictError("fault_class is required with, and only with, confirmed_fault")
        with self._lock:
            alarm = self._open_alarm(alarm_id, "closed")
            before, now = alarm.state, self.clock()
            if alarm.active and alarm.kind is AlarmKind.MACHINE:
                self._reset_persistence(alarm.asset)  # re-raise only on fresh evidence
            alarm.closed, alarm.closed_ns = True, now
            alarm.outcome, alarm.outcome_fault = outcome.value, fault_class
            alarm.active, alarm.acked, alarm.shelved_until_ns = False, True, None
            del self._open[alarm.key]
            detail = {"outcome": outcome.value, "fault_class": fault_class}
            self._record(alarm, "close", before, now, who, comment, detail=detail)
            self.journal.flush()
            return alarm

    def maintenance_start(self: AlarmEngine, asset: str, who: str, comment: str = "") -> int:
        """Take the asset's alarms out of service; returns how many alarms that touched."""
        with self._lock:
            self._known_asset(asset)
            if asset in self._maintenance:
                raise AlarmConflictError(f"asset {asset} is already in maintenance")
            self._maintenance.add(asset)
            self._save_maintenance()
            now, touched = self.clock(), self._asset_alarms(asset)
            self._reset_persistence(asset)
            for alarm in touched:
                before = alarm.state
                alarm.out_of_service = True
                self._record(alarm, "out_of_service", before, now, who, comment)
            self.journal.flush()
            return len(touched)

    def maintenance_end(self: AlarmEngine, asset: str, who: str, comment: str = "") -> int:
        """Back in service with a reset alarm state and a new baseline from now."""
        with self._lock:
            self._known_asset(asset)
            if asset not in self._maintenance:
                raise AlarmConflictError(f"asset {asset} is not in maintenance")
            self._maintenance.discard(asset)
            self._save_maintenance()
            now, touched = self.clock(), self._asset_alarms(asset)
            self._reset_persistence(asset)
            self._baseline_ns[asset] = now
            for alarm in touched:
                before = alarm.state
                alarm.out_of_service, alarm.active, alarm.acked = False, False, True
                alarm.shelved_until_ns = None
                self._record(alarm, "maintenance_reset", before, now, who, comment)
            self.journal.flush()
            for listener in self.baseline_listeners:
                listener(asset, now)
            return len(touched)

    def _known_asset(self: AlarmEngine, asset: str) -> None:
        if asset not in self._area:
            raise AlarmNotFoundError(f"no asset {asset} in the plant")

    def _save_maintenance(self: AlarmEngine) -> None:
        self.journal.set_meta("maintenance", ",".join(sorted(self._maintenance)))

    # -- reading ---------------------------------------------------------------------------
    def get_alarm(self: AlarmEngine, alarm_id: int) -> dict[str, Any]:
        with self._lock:
            doc = self._find(alarm_id).to_dict()
            doc["journal"] = [e.to_dict() for e in self.journal.entries(alarm_id)]
            return doc

    def journal_of(self: AlarmEngine, alarm_id: int) -> list[JournalEntry]:
        with self._lock:
            self._find(alarm_id)
            return self.journal.entries(alarm_id)

    def list_alarms(self: AlarmEngine, **filters: Any) -> list[dict[str, Any]]:
        """Newest first. Filters: state, kind, priority (min), area, asset, open, limit."""
        with self._lock:
            out = [a.to_dict() for a in self._matching(**filters)]
        return out[: filters.get("limit") or len(out)]

    def _matching(self: AlarmEngine, **f: Any) -> list[Alarm]:
        min_prio = Priority.parse(f["priority"]) if f.get("priority") else Priority.LOW
        rows = []
        for a in reversed(self._alarms.values()):
            if f.get("open") is not None and a.closed == f["open"]:
                continue
            if f.get("state") and a.state.value != f["state"]:
                continue
            if a.priority < min_prio or (f.get("kind") and a.kind.value != f["kind"]):
                continue
            if f.get("area") and a.area != f["area"]:
                continue
            if f.get("asset") and a.asset != f["asset"]:
                continue
            rows.append(a)
        return rows

    def counts(self: AlarmEngine) -> dict[str, Any]:
        """Open, annunciated alarm counts by priority and by area, and the areas in flood."""
        with self._lock:
            shown = [a for a in self._open.values() if a.annunciated and a.state.value != "normal"]
            return {
                "total": len(shown),
                "by_priority": dict(collections.Counter(a.priority.label for a in shown)),
                "by_area": dict(collections.Counter(a.area for a in shown)),
                "by_state": dict(collections.Counter(a.state.value for a in self._open.values())),
                "flooding": sorted(self.flood.flooding),
                "in_maintenance": sorted(self._maintenance),
            }

    def health(self: AlarmEngine) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {k: _health_doc(v) for k, v in self.latest_health.items()}


def _health_doc(ev: Any) -> dict[str, Any]:
    return {
        "asset": ev.asset,
        "ts_ns": ev.ts_ns,
        "health": ev.health,
        "p_value": ev.p_value,
        "fault_class": ev.fault_class,
        "fault_probability": ev.fault_probability,
        "present": ev.present,
        "staleness_s": ev.staleness_s,
        "model_version": ev.model_version,
        "explanation": ev.explanation,
    }
