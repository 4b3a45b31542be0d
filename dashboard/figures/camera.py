"""Camera evidence: the inspection image with the model's saliency map laid over it."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from dashboard.figures.theme import empty_figure, layout


def image_figure(pixels: np.ndarray | None, saliency: np.ndarray | None, title: str) -> go.Figure:
    """``pixels`` (H, W, 3) uint8; ``saliency`` (h, w) float in [0, 1], resampled to (H, W)."""
    if pixels is None:
        return empty_figure(title, "no inspection image in this period", height=300)
    h, w = pixels.shape[:2]
    traces = [go.Image(z=pixels, hoverinfo="skip")]
    if saliency is not None:
        sal = _upsample(np.asarray(saliency, dtype=np.float32), h, w)
        traces.append(
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
    return go.Figure(
        data=traces,
        layout=layout(
            title,
            height=300,
            xaxis={"visible": False, "range": [-0.5, w - 0.5]},
            yaxis={"visible": False, "range": [h - 0.5, -0.5], "scaleanchor": "x"},
        ),
    )


def _upsample(sal: np.ndarray, h: int, w: int) -> np.ndarray:
    """Nearest-neighbour resampling of a patch-level map to the image's pixels."""
    rows = np.minimum((np.arange(h) * sal.shape[0]) // h, sal.shape[0] - 1)
    cols = np.minimum((np.arange(w) * sal.shape[1]) // w, sal.shape[1] - 1)
    out = sal[rows][:, cols]
    peak = float(out.max()) if out.size else 0.0
    return out / peak if peak > 0 else out
