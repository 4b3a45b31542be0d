"""ISA-101 look: grey background, dark grey data, colour reserved for the abnormal."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

BACKGROUND = "#d9d9d9"
PANEL = "#e6e6e6"
INK = "#333333"
MUTED = "#7a7a7a"
GRID = "#c4c4c4"
# Colour only for abnormal: alarm priorities and the one thing a figure wants noticed.
PRIORITY_COLOURS: dict[str, str] = {
    "critical": "#c00000",
    "high": "#e06000",
    "medium": "#d4b000",
    "low": "#6a4fa0",
}
ABNORMAL = "#c00000"
ISO_ZONE_FILL: dict[str, str] = {"A": PANEL, "B": "#dcdcdc", "C": "#f0e0a0", "D": "#f0b0a0"}


def base_layout(fig: go.Figure, title: str, *, height: int = 260) -> go.Figure:
    fig.update_layout(
        title={"text": title, "font": {"size": 13, "color": INK}, "x": 0.01, "xanchor": "left"},
        paper_bgcolor=PANEL,
        plot_bgcolor=PANEL,
        font={"color": INK, "size": 11, "family": "Arial, Helvetica, sans-serif"},
        margin={"l": 50, "r": 15, "t": 32, "b": 38},
        height=height,
        showlegend=False,
    )
    fig.update_xaxes(gridcolor=GRID, zeroline=False, linecolor=MUTED)
    fig.update_yaxes(gridcolor=GRID, zeroline=False, linecolor=MUTED)
    return fig


def empty_figure(title: str, reason: str, *, height: int = 260) -> go.Figure:
    """A figure that says plainly why there is nothing to show."""
    fig = go.Figure()
    fig.add_annotation(text=reason, showarrow=False, font={"color": MUTED, "size": 12})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return base_layout(fig, title, height=height)


def iso_time(ts_ns: int) -> str:
    """A UTC time as Plotly reads it on a date axis (shapes and annotations need this form)."""
    return str(np.datetime64(int(ts_ns), "ns").astype("datetime64[ms]"))


def date_axis(ts_ns) -> np.ndarray:
    """int64 ns to datetime64[ms] for a date x axis (UTC)."""
    return np.asarray(ts_ns, dtype="int64").astype("datetime64[ns]").astype("datetime64[ms]")
