"""The modality Shapley explanation of one health event, as a bar chart."""

from __future__ import annotations

from collections.abc import Mapping

import plotly.graph_objects as go

from dashboard.figures.theme import ABNORMAL, MUTED, empty_figure, layout


def shapley_figure(
    explanation: Mapping[str, float] | None, title: str, subtitle: str = ""
) -> go.Figure:
    """One bar per modality; the modality that drives the anomaly most in colour."""
    if not explanation:
        return empty_figure(title, "no explanation computed for this event")
    items = sorted(explanation.items(), key=lambda kv: kv[1])
    top = max(explanation, key=lambda k: explanation[k])
    colours = [ABNORMAL if k == top and v > 0 else MUTED for k, v in items]
    bar = go.Bar(
        x=[v for _, v in items],
        y=[k for k, _ in items],
        orientation="h",
        marker={"color": colours},
        text=[f"{v:+.3f}" for _, v in items],
        textposition="outside",
    )
    axis = "contribution to the anomaly score (Shapley)"
    x_title = f"{axis}; {subtitle}" if subtitle else axis
    return go.Figure(data=[bar], layout=layout(title, height=240, x_title=x_title))
