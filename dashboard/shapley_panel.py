"""The "why" panel shared by the asset and alarm pages: the modality Shapley bar chart."""

from __future__ import annotations

from dash import dcc, html

from dashboard.components import fmt_ts
from dashboard.data.explanation import Explanation
from dashboard.evidence_panels import GRAPH_CONFIG
from dashboard.figures.explain import shapley_figure


def shapley_panel(expl: Explanation | None, key: str) -> html.Div:
    """Why: the modality Shapley bar chart, with where the explanation came from."""
    if expl is None:
        fig = shapley_figure(None, "Which modality drives the score (Shapley)")
        return html.Div(
            dcc.Graph(id={"type": "shapley", "key": key}, figure=fig, config=GRAPH_CONFIG),
            className="panel",
            id="shapley",
        )
    sums = ""
    if expl.consistent is not None:
        sums = f"base {expl.base:.3f} + Σ = score {expl.score:.3f}"
        sums += "" if expl.consistent else " (does NOT add up)"
    when = f", window {fmt_ts(expl.ts_ns)}" if expl.ts_ns else ""
    fig = shapley_figure(expl.shapley, "Which modality drives the score (Shapley)", sums)
    return html.Div(
        [
            html.P(
                f"Explanation from {expl.source}{when}; primary modality: "
                f"{expl.primary or max(expl.shapley, key=expl.shapley.__getitem__)}",
                className="note-meta",
            ),
            dcc.Graph(id={"type": "shapley", "key": key}, figure=fig, config=GRAPH_CONFIG),
        ],
        className="panel",
        id="shapley",
        **{"data-primary": expl.primary or ""},
    )
