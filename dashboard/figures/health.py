"""The health trend of one asset with its alarms marked."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from dashboard.data.alarm_views import Alarm
from dashboard.figures.theme import (
    INK,
    PRIORITY_COLOURS,
    date_axis,
    empty_figure,
    iso_time,
    layout,
    vline,
)


def health_trend(
    ts_ns: Sequence[int], health: Sequence[float], alarms: Sequence[Alarm], title: str
) -> go.Figure:
    """Health (0 failed .. 100 healthy) over time; each alarm a vertical marker in its colour."""
    if len(ts_ns) == 0:
        return empty_figure(title, "no health scores in this period")
    line = go.Scattergl(
        x=date_axis(ts_ns), y=list(health), mode="lines", line={"color": INK, "width": 1.5}
    )
    shapes, notes = [], []
    for alarm in alarms:
        colour = PRIORITY_COLOURS.get(alarm.priority, INK)
        at = iso_time(alarm.raised_ns)
        shapes.append(vline(at, colour, dash="dot", width=2))
        notes.append(
            {
                "x": at, "y": 102, "text": f"{alarm.priority} {alarm.fault_class}",
                "showarrow": False, "font": {"color": colour, "size": 10}, "xanchor": "left",
            }
        )  # fmt: skip
    return go.Figure(
        data=[line],
        layout=layout(
            title, y_title="health", yaxis={"range": [0, 108]}, shapes=shapes, annotations=notes
        ),
    )
