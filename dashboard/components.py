"""Small layout pieces shared by pages (no callbacks here)."""

from __future__ import annotations

import time

from dash import html

from dashboard.data.alarm_views import STATE_LABELS, Alarm


def fmt_age(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def fmt_ts(ts_ns: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts_ns / 1e9)) + " UTC"


def priority_badge(priority: str) -> html.Span:
    return html.Span(priority, className=f"badge p-{priority}")


def state_badge(alarm: Alarm) -> html.Span:
    cls = "state-unack" if alarm.state in ("unacknowledged", "rtn_unacknowledged") else "state"
    return html.Span(
        STATE_LABELS.get(alarm.state, alarm.state),
        className=f"badge {cls}",
        **{"data-state": alarm.state},
    )


def notice(text: str, *, kind: str = "info") -> html.Div:
    return html.Div(text, className=f"notice notice-{kind}", role="status")
