"""Figures of the model page: calibration, ablation (AUROC with a modality removed), drift."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from dashboard.figures.theme import ABNORMAL, INK, MUTED, base_layout, empty_figure


def calibration_figure(
    points: Sequence[tuple[float, float, float | None, float | None]] | None,
) -> go.Figure:
    """(target alpha, realised rate, 95 % low, high) against the diagonal and its [0.5, 1.5] x
    band, log-log (alphas a decade apart); a point outside the band in colour."""
    title = "Conformal calibration: realised vs target false-alarm rate"
    if not points:
        return empty_figure(title, "no realised false-alarm rates in the model's evaluation")
    xs = [p[0] for p in points]
    lo_x, hi_x = min(xs) / 3, max(xs) * 3
    grid = np.geomspace(lo_x, hi_x, 20)
    bad = [not (0.5 * a <= r <= 1.5 * a) for a, r, _, _ in points]
    err_hi = [max(0.0, (h if h is not None else r) - r) for _, r, _, h in points]
    err_lo = [max(0.0, r - (lo if lo is not None else r)) for _, r, lo, _ in points]
    fig = go.Figure(
        [
            go.Scatter(
                x=np.concatenate([grid, grid[::-1]]),
                y=np.concatenate([1.5 * grid, 0.5 * grid[::-1]]),
                fill="toself",
                mode="none",
                fillcolor="rgba(120,120,120,0.18)",
                hoverinfo="skip",
            ),
            go.Scatter(x=grid, y=grid, mode="lines", line={"color": MUTED, "dash": "dash"}),
            go.Scatter(
                x=xs,
                y=[max(p[1], lo_x / 10) for p in points],  # a zero rate shown at the axis floor
                mode="markers",
                error_y={"type": "data", "array": err_hi, "arrayminus": err_lo, "color": INK},
                marker={"color": [ABNORMAL if b else INK for b in bad], "size": 9},
                text=[f"alpha {a:g}: realised {r:.4g}" for a, r, _, _ in points],
                hoverinfo="text",
            ),
        ]
    )
    fig.update_xaxes(title="target α", type="log")
    fig.update_yaxes(title="realised rate (95 % interval)", type="log")
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


def ablation_figure(auroc: Mapping[str, float] | None, full_key: str = "fused (all present)"):
    """AUROC of the fused model and with each modality missing; a drop past the target (0.10
    without vibration, else 0.02) in colour."""
    full = auroc.get(full_key) if auroc else None

    def too_far(k: str, v: float) -> bool:
        return (
            full is not None and k != full_key and full - v > (0.10 if k == "vibration" else 0.02)
        )

    bad = {k: too_far(k, v) for k, v in (auroc or {}).items()}
    return bar_figure(auroc, "Ablation: AUROC with a modality missing", "AUROC", bad)


def drift_figure(drift: Mapping[str, float] | None, limit: float = 0.25) -> go.Figure:
    """Per modality (and the fused score), PSI of recent vs the training reference; > limit in
    colour."""
    bad = {k: v > limit for k, v in (drift or {}).items()}
    return bar_figure(drift, "Drift, last 24 h vs training reference (PSI)", "PSI", bad)
