"""The dashboard's view of an alarm, normalised from the alarm API's JSON in one place."""

from __future__ import annotations

import dataclasses
from typing import Any

# ISA-18.2 priorities, most urgent first; the rank orders the overview and the alarm list.
PRIORITIES: tuple[str, ...] = ("critical", "high", "medium", "low")
PRIORITY_RANK: dict[str, int] = {p: i for i, p in enumerate(PRIORITIES)}
# States in which an alarm still asks something of the operator.
ACTIVE_STATES: frozenset[str] = frozenset({"unacknowledged", "acknowledged", "rtn_unacknowledged"})
STATE_LABELS: dict[str, str] = {
    "normal": "Normal",
    "unacknowledged": "Unacknowledged",
    "acknowledged": "Acknowledged",
    "rtn_unacknowledged": "RTN unack.",
    "shelved": "Shelved",
    "suppressed": "Suppressed",
    "out_of_service": "Out of service",
}


@dataclasses.dataclass(frozen=True, slots=True)
class JournalEntry:
    ts_ns: int
    user: str
    action: str
    detail: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class Alarm:
    id: str
    asset: str
    area: str
    state: str
    priority: str
    raised_ns: int
    fault_class: str
    kind: str = "machine"  # plant.alarms.model.AlarmKind value
    message: str = ""
    health: float | None = None
    p_value: float | None = None
    explanation: dict[str, Any] | None = None  # the raising window's (data/explanation.py)
    shelved_until_ns: int | None = None
    journal: tuple[JournalEntry, ...] = ()
    closed: bool = False
    model_version: str = ""

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES and not self.closed

    def age_s(self, now_ns: int) -> float:
        return max(0.0, (now_ns - self.raised_ns) / 1e9)


def _first(doc: dict[str, Any], *keys: str, default: Any = None) -> Any:
    for k in keys:
        if doc.get(k) is not None:
            return doc[k]
    return default


def journal_from_api(rows: list[dict[str, Any]]) -> tuple[JournalEntry, ...]:
    out = []
    for r in rows:
        detail = _first(r, "comment", "note", default="")
        out.append(
            JournalEntry(
                ts_ns=int(_first(r, "ts_ns", "at_ns", default=0)),
                user=str(_first(r, "who", "user", "username", default="")),
                action=str(_first(r, "action", "event", "to_state", default="")),
                detail=str(detail) if not isinstance(detail, str) else detail,
            )
        )
    return tuple(out)


def alarm_from_api(doc: dict[str, Any]) -> Alarm:
    """One alarm document of the alarm API, as the dashboard shows it."""
    health = doc.get("health")
    return Alarm(
        id=str(doc["id"]),
        asset=str(doc["asset"]),
        area=str(doc.get("area", "")),
        state=str(doc["state"]).lower(),
        priority=str(doc.get("priority", "low")).lower(),
        raised_ns=int(_first(doc, "raised_ns", "ts_ns", "created_ns", default=0)),
        fault_class=str(_first(doc, "fault_class", "source", default="")),
        kind=str(doc.get("kind", "machine")),
        message=str(doc.get("message", "")),
        health=float(health) if health is not None else None,
        p_value=doc.get("p_value"),
        explanation=doc.get("explanation"),
        shelved_until_ns=doc.get("shelved_until_ns"),
        journal=journal_from_api(doc.get("journal") or []),
        closed=bool(doc.get("closed", False)),
        model_version=str(doc.get("model_version", "")),
    )


@dataclasses.dataclass(frozen=True, slots=True)
class HealthView:
    """The latest health of one asset as the alarm engine holds it."""

    asset: str
    ts_ns: int
    health: float
    p_value: float
    fault_class: str
    present: dict[str, bool]
    staleness_s: dict[str, float]
    model_version: str = ""
    explanation: dict[str, Any] | None = None
    fault_probability: float = 0.0

    @property
    def missing(self) -> list[str]:
        """The model's modalities absent from this score (as ``HealthEvent.missing``)."""
        from plant.events import missing_modalities

        return missing_modalities(self.present)


def health_from_api(doc: dict[str, Any]) -> HealthView:
    return HealthView(
        asset=str(doc["asset"]),
        ts_ns=int(doc["ts_ns"]),
        health=float(doc["health"]),
        p_value=float(doc.get("p_value", 1.0)),
        fault_class=str(doc.get("fault_class", "")),
        present=dict(doc.get("present") or {}),
        staleness_s=dict(doc.get("staleness_s") or {}),
        model_version=str(doc.get("model_version", "")),
        explanation=doc.get("explanation"),
        fault_probability=float(doc.get("fault_probability", 0.0)),
    )
