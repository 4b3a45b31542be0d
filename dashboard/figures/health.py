"""The health trend of one asset with its alarms marked."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from dashboard.data.alarm_views import Alarm
from dashboard.figures.theme import (
    INK,
    PRIORITY_COLOURS,
    base_layout,
    date_axis,
    empty_figure,
    iso_time,
)


def health_trend(
    ts_ns: Sequence[int], health: Sequence[float], alarms: Sequence[Alarm], title: str
) -> go.Figure:
    """Health (0 failed .. 100 healthy) over time; each alarm a vertical marker in its colour."""
    if len(ts_ns) == 0:
        return empty_figure(title, "no health scores in this period")
    fig = go.Figure(
        go.Scattergl(
            x=date_axis(ts_ns), y=list(health), mode="lines", line={"color": INK, "width": 1.5}
        )
    )
    for alarm in alarms:
        colour = PRIORITY_COLOURS.get(alarm.priority, INK)
        fig.add_vline(
            x=iso_time(alarm.raised_ns), line={"color": colour, "width": 2, "dash": "dot"}
        )
        fig.add_annotation(
            x=iso_time(alarm.raised_ns),
            y=102,
            text=f"{alarm.priority} {alarm.fault_class}",
            showarrow=False,
            font={"color": colour, "size": 10},
            xanchor="left",
        )
    fig.update_yaxes(range=[0, 108], title="health")
    return base_layout(fig, title)
