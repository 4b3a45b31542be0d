"""Vibration evidence: spectrum and envelope spectrum with defect-frequency markers, ISO zone."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from dashboard.figures.theme import (
    ABNORMAL,
    INK,
    ISO_ZONE_FILL,
    MUTED,
    base_layout,
    empty_figure,
)


def spectrum_figure(
    freq_hz: np.ndarray,
    amplitude: np.ndarray,
    markers_hz: Mapping[str, float],
    title: str,
    *,
    highlight: Sequence[str] = (),
    max_hz: float | None = None,
    y_title: str = "m/s²",
    bands: Sequence[tuple[float, float, str]] = (),
) -> go.Figure:
    """A one-sided amplitude spectrum with labelled marker lines (highlighted ones in colour).

    ``bands``: (hz, weight, label) of the frequency bands the model attributes the score to
    (``evidence.vibration.bands`` of the explanation), drawn as triangles above the spectrum,
    sized by weight, the strongest in colour.
    """
    if len(freq_hz) == 0:
        return empty_figure(title, "no vibration snapshot in this period")
    keep = freq_hz <= max_hz if max_hz else np.ones(len(freq_hz), bool)
    fig = go.Figure(
        go.Scattergl(
            x=freq_hz[keep], y=amplitude[keep], mode="lines", line={"color": INK, "width": 1}
        )
    )
    top = float(np.max(amplitude[keep])) if keep.any() else 1.0
    for i, (name, f) in enumerate(markers_hz.items()):
        if max_hz and f > max_hz:
            continue
        colour = ABNORMAL if name in highlight else MUTED
        fig.add_vline(x=f, line={"color": colour, "width": 1, "dash": "dash"})
        fig.add_annotation(
            x=f,
            y=top * (1.08 - 0.07 * (i % 3)),
            text=name,
            showarrow=False,
            font={"color": colour, "size": 10},
            xanchor="left",
        )
    if bands:
        _add_bands(fig, bands, top * 1.18, max_hz)
    fig.update_xaxes(title="frequency (Hz)")
    fig.update_yaxes(title=y_title)
    return base_layout(fig, title)


def _add_bands(
    fig: go.Figure, bands: Sequence[tuple[float, float, str]], y: float, max_hz: float | None
) -> None:
    shown = [b for b in bands if not max_hz or b[0] <= max_hz]
    if not shown:
        return
    peak = max(abs(w) for _, w, _ in shown) or 1.0
    strongest = max(shown, key=lambda b: b[1])
    fig.add_trace(
        go.Scatter(
            x=[b[0] for b in shown],
            y=[y] * len(shown),
            mode="markers",
            name="model attribution",
            marker={
                "symbol": "triangle-down",
                "size": [6 + 10 * abs(w) / peak for _, w, _ in shown],
                "color": [ABNORMAL if b is strongest else MUTED for b in shown],
            },
            text=[f"{hz:.1f} Hz {label or '(no match)'}: weight {w:.3f}" for hz, w, label in shown],
            hoverinfo="text",
        )
    )


def iso_zone_figure(
    velocity_rms_mm_s: float | None, boundaries_mm_s: Sequence[float], zone: str | None, title: str
) -> go.Figure:
    """ISO 20816 zones A/B/C/D as bands with the measured velocity RMS as a bar."""
    if velocity_rms_mm_s is None or len(boundaries_mm_s) != 3:
        return empty_figure(title, "no velocity RMS", height=150)
    top = max(boundaries_mm_s[2] * 1.5, velocity_rms_mm_s * 1.1)
    edges = [0.0, *boundaries_mm_s, top]
    fig = go.Figure()
    for letter, lo, hi in zip("ABCD", edges[:-1], edges[1:], strict=True):
        fig.add_vrect(x0=lo, x1=hi, fillcolor=ISO_ZONE_FILL[letter], line_width=0, layer="below")
        fig.add_annotation(
            x=(lo + hi) / 2, y=1.2, text=letter, showarrow=False, font={"color": MUTED}
        )
    colour = ABNORMAL if zone in ("C", "D") else INK
    fig.add_trace(
        go.Bar(
            x=[velocity_rms_mm_s],
            y=[0.5],
            orientation="h",
            marker={"color": colour},
            width=0.5,
            text=[f"{velocity_rms_mm_s:.2f} mm/s (zone {zone})"],
            textposition="outside",
        )
    )
    fig.update_xaxes(range=[0, top], title="velocity RMS (mm/s)")
    fig.update_yaxes(visible=False, range=[0, 1.4])
    return base_layout(fig, title, height=150)
