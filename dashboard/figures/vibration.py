"""Vibration evidence: spectrum and envelope spectrum with defect-frequency markers, ISO zone."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from dashboard.figures.theme import ABNORMAL, INK, ISO_ZONE_FILL, MUTED, empty_figure, layout, vline


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
    traces = [
        go.Scattergl(
            x=freq_hz[keep], y=amplitude[keep], mode="lines", line={"color": INK, "width": 1}
        )
    ]
    top = float(np.max(amplitude[keep])) if keep.any() else 1.0
    shapes, notes = [], []
    for i, (name, f) in enumerate(markers_hz.items()):
        if max_hz and f > max_hz:
            continue
        colour = ABNORMAL if name in highlight else MUTED
        shapes.append(vline(f, colour))
        notes.append(
            {
                "x": f, "y": top * (1.08 - 0.07 * (i % 3)), "text": name, "showarrow": False,
                "font": {"color": colour, "size": 10}, "xanchor": "left",
            }
        )  # fmt: skip
    if bands:
        traces += _band_traces(bands, top * 1.18, max_hz)
    return go.Figure(
        data=traces,
        layout=layout(
            title, x_title="frequency (Hz)", y_title=y_title, shapes=shapes, annotations=notes
        ),
    )


def _band_traces(
    bands: Sequence[tuple[float, float, str]], y: float, max_hz: float | None
) -> list[go.Scatter]:
    shown = [b for b in bands if not max_hz or b[0] <= max_hz]
    if not shown:
        return []
    peak = max(abs(w) for _, w, _ in shown) or 1.0
    strongest = max(shown, key=lambda b: b[1])
    return [
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
    ]


def iso_zone_figure(
    velocity_rms_mm_s: float | None, boundaries_mm_s: Sequence[float], zone: str | None, title: str
) -> go.Figure:
    """ISO 20816 zones A/B/C/D as bands with the measured velocity RMS as a bar."""
    if velocity_rms_mm_s is None or len(boundaries_mm_s) != 3:
        return empty_figure(title, "no velocity RMS", height=150)
    top = max(boundaries_mm_s[2] * 1.5, velocity_rms_mm_s * 1.1)
    edges = [0.0, *boundaries_mm_s, top]
    shapes, notes = [], []
    for letter, lo, hi in zip("ABCD", edges[:-1], edges[1:], strict=True):
        shapes.append(
            {
                "type": "rect", "xref": "x", "yref": "paper", "x0": lo, "x1": hi, "y0": 0,
                "y1": 1, "fillcolor": ISO_ZONE_FILL[letter], "line": {"width": 0}, "layer": "below",
            }
        )  # fmt: skip
        notes.append(
            {"x": (lo + hi) / 2, "y": 1.2, "text": letter, "showarrow": False,
             "font": {"color": MUTED}}
        )  # fmt: skip
    colour = ABNORMAL if zone in ("C", "D") else INK
    bar = go.Bar(
        x=[velocity_rms_mm_s],
        y=[0.5],
        orientation="h",
        marker={"color": colour},
        width=0.5,
        text=[f"{velocity_rms_mm_s:.2f} mm/s (zone {zone})"],
        textposition="outside",
    )
    return go.Figure(
        data=[bar],
        layout=layout(
            title,
            height=150,
            x_title="velocity RMS (mm/s)",
            xaxis={"range": [0, top]},
            yaxis={"visible": False, "range": [0, 1.4]},
            shapes=shapes,
            annotations=notes,
        ),
    )
