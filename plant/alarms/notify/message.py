"""What the engine hands to the notifiers: one alarm change, ready to render on any channel."""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol


@dataclasses.dataclass(frozen=True, slots=True)
class Notification:
    """One alarm change. ``grouped``: part of an area's flood; only its state is published."""

    event: str  # raised, escalated, cleared, changed, flood, flood_end
    alarm: dict[str, Any]  # Alarm.to_dict()
    asset_alarms: tuple[dict[str, Any], ...]  # the asset's open alarms (retained MQTT state)
    site: str
    link: str  # the alarm's dashboard page
    ts_ns: int
    grouped: bool = False

    @property
    def priority(self) -> str:
        return str(self.alarm["priority"])

    @property
    def key(self) -> str:
        return f"{self.alarm['kind']}/{self.alarm['asset']}/{self.alarm['source']}"

    def summary(self) -> str:
        """One line a planner can act on: what, where, how bad, which evidence."""
        a = self.alarm
        parts = [f"[{a['priority'].upper()}] {a['asset']} ({a['area']}): {a['message']}"]
        if a.get("health") is not None:
            parts.append(f"health {a['health']:.0f}/100")
        if a.get("p_value") is not None:
            parts.append(f"p={a['p_value']:.2g}")
        if a.get("top_modalities"):
            parts.append("evidence: " + ", ".join(a["top_modalities"]))
        return "; ".join(parts)

    def to_doc(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "summary": self.summary(),
            "link": self.link,
            "site": self.site,
            "ts_ns": self.ts_ns,
            "grouped": self.grouped,
            "alarm": self.alarm,
        }


class Notifier(Protocol):
    """What the engine needs from notifications: a call that never blocks and never raises."""

    def submit(self, note: Notification) -> None: ...
