"""Model page: active version, evaluation table, calibration plot, ablation, drift per modality."""

from __future__ import annotations

import dash
from dash import dcc, html

from dashboard.components import notice
from dashboard.context import current
from dashboard.data.model_info import ModelSummary, model_summary
from dashboard.evidence_panels import GRAPH_CONFIG
from dashboard.figures.model import (
    ablation_figure,
    bar_figure,
    calibration_figure,
    drift_figure,
)

dash.register_page(__name__, path="/model", title="plantwatch: model", order=2)


def layout(**_query: str) -> html.Div:
    ctx = current()
    if ctx.registry_dir is None:
        return html.Div([html.H2("Model"), notice("No model registry found (--registry).")])
    s = model_summary(ctx.registry_dir)
    if s is None:
        return html.Div([html.H2("Model"), notice("No active model in the registry yet.")])
    return html.Div(
        [
            html.H2(f"Model {s.version} (active)"),
            _facts(s),
            _metrics(s),
            html.Div(
                [
                    _graph(
                        "auroc",
                        bar_figure(s.auroc, "Held-out AUROC: fused and by modality", "AUROC"),
                    ),
                    _graph("calibration", calibration_figure(s.calibration)),
                    _graph("ablation", ablation_figure(s.ablation)),
                    _graph("drift", drift_figure(s.drift)),
                ],
                className="row",
            ),
        ]
    )


def _graph(kind: str, fig) -> html.Div:
    return html.Div(
        dcc.Graph(id={"type": "model", "kind": kind}, figure=fig, config=GRAPH_CONFIG),
        className="panel",
    )


def _facts(s: ModelSummary) -> html.Dl:
    items = [("Created", s.created), ("Trained on", s.data), ("Versions", ", ".join(s.versions))]
    return html.Dl([x for k, v in items for x in (html.Dt(k), html.Dd(v))], className="kv panel")


def _metrics(s: ModelSummary) -> html.Div:
    rows = [html.Tr([html.Th("Figure"), html.Th("Value")])]
    rows += [html.Tr([html.Td(k), html.Td(v)]) for k, v in s.metrics]
    return html.Div(
        [html.H3("Evaluation"), html.Table(rows, className="grid", id="metrics")], className="panel"
    )
