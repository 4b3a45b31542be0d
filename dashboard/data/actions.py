"""Operator actions on alarms, sent to the alarm API with the operator's own token."""

from __future__ import annotations

import logging

from dashboard.data.alarms_api import AlarmApiClient, ApiError

log = logging.getLogger(__name__)

ACTIONS = ("acknowledge", "shelve", "comment")
SHELVE_CHOICES_S: dict[str, int] = {"15 min": 900, "1 h": 3600, "4 h": 14_400, "8 h": 28_800}


def perform(
    api: AlarmApiClient,
    token: str,
    alarm_id: str,
    action: str,
    *,
    shelve_s: int | None = None,
    text: str = "",
) -> tuple[bool, str]:
    """Do ``action``; return (ok, a sentence for the operator)."""
    text = (text or "").strip()
    try:
        if action == "acknowledge":
            api.acknowledge(token, alarm_id, comment=text)
            return True, f"Alarm {alarm_id} acknowledged."
        if action == "shelve":
            if not shelve_s:
                return False, "Choose how long to shelve for."
            if not text:
                return False, "Shelving needs a reason: type it in the comment box."
            api.shelve(token, alarm_id, float(shelve_s), text)
            return True, f"Alarm {alarm_id} shelved for {shelve_s // 60} min."
        if action == "comment":
            if not text:
                return False, "Type a comment first."
            api.comment(token, alarm_id, text)
            return True, f"Comment added to alarm {alarm_id}."
    except ApiError as exc:
        log.warning("alarm %s %s refused: %s", alarm_id, action, exc)
        return False, f"The alarm service refused: {exc.detail or exc.status}"
    return False, f"unknown action {action!r}; expected one of {ACTIONS}"
