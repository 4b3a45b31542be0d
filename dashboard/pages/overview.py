"""Plant overview: every asset's health by area, worst first; alarm counts; data health."""

from __future__ import annotations

import dash
from dash import ClientsideFunction, Input, Output, callback, clientside_callback, dcc, html

from dashboard.components import fmt_age, notice
from dashboard.context import current
from dashboard.data.overview import Overview
from dashboard.overview_doc import grid_document, overview

dash.register_page(__name__, path="/", title="plantwatch: overview", order=0)


def layout(**_query: str) -> html.Div:
    ctx = current()
    return html.Div(
        [
            html.Div(body(overview()), id="overview-body"),
            dcc.Interval(id="overview-tick", interval=int(ctx.refresh_s * 1000)),
        ]
    )


@callback(
    Output("overview-body", "children"),
    Input("overview-tick", "n_intervals"),
    prevent_initial_call=True,
)
def refresh(_n: int) -> list:
    return body(overview())


def body(ov: Overview | None) -> list:
    if ov is None:
        return [notice("Not logged in.", kind="error")]
    out: list = []
    if ov.data_health.sources_down:
        out.append(notice("Not reachable: " + ", ".join(ov.data_health.sources_down), kind="error"))
    if ov.floods:
        out.append(notice("ALARM FLOOD in " + ", ".join(ov.floods), kind="flood"))
    out += [_counts(ov), _data_health(ov), _grid(ov)]
    return out


def _counts(ov: Overview) -> html.Div:
    boxes = [
        html.A(
            [html.Span(str(n), className="count-n"), html.Span(p, className="count-label")],
            href=f"/alarms?priority={p}",
            className=f"count-box {'p-' + p if n else 'zero'}",
            id=f"count-{p}",
        )
        for p, n in ov.counts_by_priority.items()
    ]
    return html.Div([html.H2("Active alarms"), html.Div(boxes, className="counts")])


def _data_health(ov: Overview) -> html.Div:
    dh = ov.data_health
    silent = len(dh.silent_sensors)
    first = ", ".join(f"{a}/{m}" for a, m in dh.silent_sensors[:6])
    age = "no scores yet" if dh.score_age_s is None else fmt_age(dh.score_age_s) + " ago"
    lag = "unknown" if dh.ingest_lag_s is None else f"{dh.ingest_lag_s:.2f} s"
    dl = "unknown" if dh.dead_letters is None else str(dh.dead_letters)
    items = [
        _strip_item("Silent sensors", str(silent) + (f" ({first})" if silent else ""), silent > 0),
        _strip_item("Dead letters", dl, bool(dh.dead_letters)),
        _strip_item("Ingest lag", lag, dh.ingest_lag_s is None or dh.ingest_lag_s > 5),
        _strip_item("Newest score", age, dh.score_age_s is None or dh.score_age_s > 300),
        _strip_item("Assets", str(ov.n_assets), False),
    ]
    return html.Div(items, className="data-health", id="data-health")


def _strip_item(label: str, value: str, abnormal: bool) -> html.Span:
    return html.Span(
        [html.B(label + ": "), value], className="strip-item" + (" abnormal" if abnormal else "")
    )


def _grid(ov: Overview) -> html.Div:
    return html.Div(
        [
            dcc.Store(id="grid-data", data=grid_document(ov)),
            html.Div(id="asset-grid", className="asset-grid", **{"data-assets": str(ov.n_assets)}),
        ]
    )


clientside_callback(
    ClientsideFunction(namespace="plantwatch", function_name="renderGrid"),
    Output("asset-grid", "title"),
    Input("grid-data", "data"),
)
