"""The ISA-18.2 alarm engine, its journal, HTTP API and notifications (docs/ALARMS.md)."""

from plant.alarms.actions import AlarmConflictError, AlarmNotFoundError
from plant.alarms.engine import AlarmEngine
from plant.alarms.model import (
    Alarm,
    AlarmKind,
    AlarmState,
    DataQualityKind,
    JournalEntry,
    Outcome,
    Priority,
)

__all__ = [
    "Alarm",
    "AlarmConflictError",
    "AlarmEngine",
    "AlarmKind",
    "AlarmNotFoundError",
    "AlarmState",
    "DataQualityKind",
    "JournalEntry",
    "Outcome",
    "Priority",
]
