"""Figures of the model page: calibration, ablation (AUROC with a modality removed), drift."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go

from dashboard.figures.theme import ABNORMAL, INK, MUTED, base_layout, empty_figure


def calibration_figure(points: Sequence[tuple[float, float]] | None) -> go.Figure:
    """(target alpha, realised false-alarm rate) pairs against the diagonal and its ±50 % band."""
    title = "Conformal calibration: realised vs target false-alarm rate"
    if not points:
        return empty_figure(title, "no calibration figures in the model's metrics")
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    bad = [not (0.5 * x <= y <= 1.5 * x) for x, y in points]
    hi = max(max(xs), max(ys)) * 1.1
    fig = go.Figure(
        [
            go.Scatter(x=[0, hi], y=[0, hi], mode="lines", line={"color": MUTED, "dash": "dash"}),
            go.Scatter(
                x=[0, hi, hi, 0],
                y=[0, 1.5 * hi, 0.5 * hi, 0],
                fill="toself",
                mode="none",
                fillcolor="rgba(120,120,120,0.15)",
            ),
            go.Scatter(
                x=xs,
                y=ys,
                mode="markers+lines",
                line={"color": INK},
                marker={"color": [ABNORMAL if b else INK for b in bad], "size": 8},
            ),
        ]
    )
    fig.update_xaxes(title="target α", range=[0, hi])
    fig.update_yaxes(title="realised rate", range=[0, hi])
    return base_layout(fig, title, height=300)


def bar_figure(
    values: Mapping[str, float] | None,
    title: str,
    x_title: str,
    bad: Mapping[str, bool] | None = None,
) -> go.Figure:
    if not values:
        return empty_figure(title, "not in the model's metrics")
    names = list(values)
    colours = [ABNORMAL if bad and bad.get(n) else MUTED for n in names]
    fig = go.Figure(
        go.Bar(
            x=[values[n] for n in names],
            y=names,
            orientation="h",
            marker={"color": colours},
            text=[f"{values[n]:.3f}" for n in names],
            textposition="outside",
        )
    )
    fig.update_xaxes(title=x_title)
    return base_layout(fig, title, height=300)


def ablation_figure(auroc: Mapping[str, float] | None) -> go.Figure:
    """AUROC of the fused model and with each modality removed; a drop > 0.02 in colour."""
    full = auroc.get("all") if auroc else None
    bad = {k: full is not None and k != "all" and full - v > 0.02 for k, v in (auroc or {}).items()}
    return bar_figure(auroc, "Ablation: AUROC with one modality missing", "AUROC", bad)


def drift_figure(drift: Mapping[str, float] | None) -> go.Figure:
    """Per modality, the shift of recent inputs from the calibration data (PSI); > 0.2 in colour."""
    bad = {k: v > 0.2 for k, v in (drift or {}).items()}
    return bar_figure(drift, "Drift per modality (population stability index)", "PSI", bad)
