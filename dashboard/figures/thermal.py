"""Thermal evidence: measured temperature against the expected normal-behaviour temperature."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from dashboard.figures.theme import (
    ABNORMAL,
    INK,
    MUTED,
    date_axis,
    empty_figure,
    iso_time,
    layout,
    vline,
)


def thermal_figure(
    ts_ns: np.ndarray,
    measured_c: np.ndarray,
    expected_c: np.ndarray | None,
    channel: str,
    title: str,
    *,
    residual_limit_c: float | None = None,
    at_ns: int | None = None,
    expected_name: str = "expected",
) -> go.Figure:
    """``measured_c`` and ``expected_c`` are (T,) on ``ts_ns``; residuals past the limit in red.
    ``expected_name`` is the legend's name for the expectation (which model it is)."""
    if len(ts_ns) == 0:
        return empty_figure(title, "no temperatures in this period")
    x = date_axis(ts_ns)
    traces = []
    if expected_c is not None:
        traces.append(
            go.Scattergl(
                x=x,
                y=expected_c,
                mode="lines",
                name=expected_name,
                line={"color": MUTED, "width": 1.5, "dash": "dash"},
            )
        )
    traces.append(
        go.Scattergl(
            x=x, y=measured_c, mode="lines", name=channel, line={"color": INK, "width": 1.5}
        )
    )
    if expected_c is not None and residual_limit_c is not None:
        hot = (measured_c - expected_c) > residual_limit_c
        if hot.any():
            traces.append(
                go.Scattergl(
                    x=x[hot],
                    y=measured_c[hot],
                    mode="markers",
                    name="above expected",
                    marker={"color": ABNORMAL, "size": 5},
                )
            )
    shapes = [vline(iso_time(at_ns), INK, dash="dot")] if at_ns is not None else []
    return go.Figure(
        data=traces,
        layout=layout(
            title,
            y_title="°C",
            shapes=shapes,
            showlegend=True,
            legend={"orientation": "h", "y": -0.25, "x": 0},
        ),
    )


def residual_figure(
    ts_ns: np.ndarray,
    residual_c: np.ndarray,
    weight: np.ndarray | None,
    title: str,
    *,
    residual_limit_c: float | None = None,
) -> go.Figure:
    """Measured minus expected over time; where the model attributes the score (``weight`` > 0)
    the bars are in colour, their opacity the weight's share of the largest.

    Two bar traces (plain, attributed) with numeric opacities rather than one colour string per
    bar: Plotly validates a list of colour strings element by element (~350 ms for the 2,000
    bars of a 6-hour look-back at 10 s), numeric arrays at once."""
    if len(ts_ns) == 0:
        return empty_figure(title, "no thermal residual in this period")
    res = np.asarray(residual_c, dtype=np.float64)
    x = date_axis(ts_ns)
    plain = {"color": MUTED, "line": {"width": 0}}
    share = np.zeros(len(res))
    if weight is not None and np.any(np.asarray(weight) > 0):
        w = np.clip(np.asarray(weight, dtype=np.float64), 0.0, None)
        share = w / w.max()
    hot = share > 0.05
    bars = [go.Bar(x=x[~hot], y=res[~hot], marker=plain, name="residual")]
    if hot.any():
        opacity = 0.25 + 0.75 * share[hot]
        marker = {"color": ABNORMAL, "opacity": opacity, "line": {"width": 0}}
        bars.append(go.Bar(x=x[hot], y=res[hot], marker=marker, name="attributed"))
    shapes = []
    if residual_limit_c is not None:
        shapes.append(
            {
                "type": "line", "xref": "paper", "yref": "y", "x0": 0, "x1": 1,
                "y0": residual_limit_c, "y1": residual_limit_c,
                "line": {"color": INK, "dash": "dot", "width": 1},
            }
        )  # fmt: skip
    return go.Figure(
        data=bars,
        layout=layout(
            title, height=200, y_title="°C above expected", shapes=shapes, barmode="overlay"
        ),
    )
