"""Camera evidence: the inspection image with the model's saliency map laid over it."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from dashboard.figures.theme import base_layout, empty_figure


def image_figure(pixels: np.ndarray | None, saliency: np.ndarray | None, title: str) -> go.Figure:
    """``pixels`` (H, W, 3) uint8; ``saliency`` (h, w) float in [0, 1], resampled to (H, W)."""
    if pixels is None:
        return empty_figure(title, "no inspection image in this period", height=300)
    h, w = pixels.shape[:2]
    fig = go.Figure(go.Image(z=pixels, hoverinfo="skip"))
    if saliency is not None:
        sal = _upsample(np.asarray(saliency, dtype=np.float32), h, w)
        fig.add_trace(
            go.Heatmap(
                z=sal,
                opacity=0.45,
                colorscale=[[0, "rgba(0,0,0,0)"], [1, "#ff2000"]],
                showscale=False,
                zmin=0,
                zmax=1,
                hoverinfo="skip",
            )
        )
    fig.update_xaxes(visible=False, range=[-0.5, w - 0.5])
    fig.update_yaxes(visible=False, range=[h - 0.5, -0.5], scaleanchor="x")
    return base_layout(fig, title, height=300)


def _upsample(sal: np.ndarray, h: int, w: int) -> np.ndarray:
    """Nearest-neighbour resampling of a patch-level map to the image's pixels."""
    rows = np.minimum((np.arange(h) * sal.shape[0]) // h, sal.shape[0] - 1)
    cols = np.minimum((np.arange(w) * sal.shape[1]) // w, sal.shape[1] - 1)
    out = sal[rows][:, cols]
    peak = float(out.max()) if out.size else 0.0
    return out / peak if peak > 0 else out
