"""Alarm records and the ISA-18.2 states, defined once for the engine, journal, API and notifiers.

An alarm's ISA-18.2 state is derived from orthogonal facts (is the condition active, has it been
acknowledged, is it shelved, suppressed by design or out of service), so every path of the
standard's state diagram follows from a few flag changes and none can be reached by mistake.
"""

from __future__ import annotations

import dataclasses
from enum import IntEnum, StrEnum
from typing import Any

from plant.events import shapley_values


class AlarmKind(StrEnum):
    MACHINE = "machine"  # the model says the machine is unhealthy (per asset and fault class)
    DATA_QUALITY = "data_quality"  # a sensor fault: stuck, saturated, dead
    SILENT_SENSOR = "silent_sensor"  # a sensor stopped reporting
    SILENT_CHAIN = "silent_chain"  # the monitoring chain is silent (no readings, scorer down)
    FLOOD = "flood"  # more than N alarms in the flood window in one area: the group's summary


class AlarmState(StrEnum):
    NORMAL = "normal"
    UNACKNOWLEDGED = "unacknowledged"
    ACKNOWLEDGED = "acknowledged"
    RTN_UNACKNOWLEDGED = "rtn_unacknowledged"
    SHELVED = "shelved"
    SUPPRESSED = "suppressed"
    OUT_OF_SERVICE = "out_of_service"


class Priority(IntEnum):
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, label: str) -> Priority:
        return cls[label.upper()]


class Outcome(StrEnum):
    CONFIRMED_FAULT = "confirmed_fault"  # with the fault class found
    FALSE_ALARM = "false_alarm"
    SENSOR_FAULT = "sensor_fault"
    OTHER = "other"


class DataQualityKind(StrEnum):
    STUCK = "stuck"
    SATURATED = "saturated"
    DEAD = "dead"


SYSTEM_AREA = "system"  # area of monitoring-chain alarms; their asset is the silent component
FLOOD_ASSET = "flood"  # asset id of an area's flood summary alarm


@dataclasses.dataclass(slots=True)
class Alarm:
    """One alarm: opened when its condition first raises, kept until closed with an outcome."""

    id: int
    kind: AlarmKind
    site: str
    area: str
    asset: str
    source: str  # fault class (machine), "sensor/kind" (data quality), sensor or component
    priority: Priority
    raised_ns: int
    updated_ns: int
    active: bool = True
    acked: bool = False
    shelved_until_ns: int | None = None
    suppressed: bool = False
    out_of_service: bool = False
    closed: bool = False
    p_value: float | None = None
    health: float | None = None
    model_version: str = ""
    explanation: dict[str, Any] | None = None  # plant.events.HealthEvent.explanation
    activations: int = 1
    outcome: str | None = None
    outcome_fault: str | None = None
    closed_ns: int | None = None
    members: list[int] = dataclasses.field(default_factory=list)  # flood: grouped alarm ids

    @property
    def key(self) -> tuple[str, str, str]:
        """One open alarm per (kind, asset, source)."""
        return (self.kind.value, self.asset, self.source)

    @property
    def state(self) -> AlarmState:
        if self.out_of_service:
            return AlarmState.OUT_OF_SERVICE
        if self.shelved_until_ns is not None:
            return AlarmState.SHELVED
        if self.suppressed:
            return AlarmState.SUPPRESSED
        if self.active:
            return AlarmState.ACKNOWLEDGED if self.acked else AlarmState.UNACKNOWLEDGED
        return AlarmState.NORMAL if self.acked else AlarmState.RTN_UNACKNOWLEDGED

    @property
    def annunciated(self) -> bool:
        """Shown to (and notified to) operators: not shelved, suppressed or out of service."""
        return not (self.out_of_service or self.suppressed or self.shelved_until_ns is not None)

    @property
    def message(self) -> str:
        """What the alarm says, in a few words."""
        return {
            AlarmKind.MACHINE: f"{self.source} suspected",
            AlarmKind.DATA_QUALITY: f"sensor fault {self.source}",
            AlarmKind.SILENT_SENSOR: f"sensor {self.source} silent",
            AlarmKind.SILENT_CHAIN: f"monitoring chain silent ({self.source})",
            AlarmKind.FLOOD: f"alarm flood in {self.area}: {len(self.members)} alarms grouped",
        }[self.kind]

    def top_modalities(self, n: int = 2) -> list[str]:
        ranked = sorted(shapley_values(self.explanation).items(), key=lambda kv: -kv[1])
        return [m for m, v in ranked[:n] if v > 0]

    def to_dict(self) -> dict[str, Any]:
        doc = dataclasses.asdict(self)
        doc["kind"] = self.kind.value
        doc["priority"] = self.priority.label
        doc["state"] = self.state.value
        doc["top_modalities"] = self.top_modalities()
        doc["message"] = self.message
        return doc


@dataclasses.dataclass(frozen=True, slots=True)
class JournalEntry:
    """One line of the journal: a state change or an action, with who and why."""

    alarm_id: int
    ts_ns: int
    action: str  # raise, clear, acknowledge, shelve, unshelve, shelve_expired, suppress, ...
    state_from: str
    state_to: str
    who: str = "engine"
    comment: str = ""
    model_version: str = ""
    p_value: float | None = None
    detail: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
