"""Asset page: health trend with alarm markers and the latest evidence per modality."""

from __future__ import annotations

import time

import dash
from dash import Input, Output, State, callback, dcc, html

from dashboard.components import fmt_ts, notice, priority_badge, state_badge
from dashboard.context import current, current_user
from dashboard.data.alarms_api import ApiError
from dashboard.data.explanation import latest_for_asset
from dashboard.data.latest import evidence_time, with_live
from dashboard.evidence_panels import GRAPH_CONFIG, evidence_panels
from dashboard.figures.health import health_trend
from dashboard.shapley_panel import shapley_panel

dash.register_page(__name__, path_template="/asset/<asset_id>", title="plantwatch: asset")

TREND_S = 24 * 3600


def layout(asset_id: str = "", **_query: str) -> html.Div:
    ctx = current()
    asset = ctx.plant.asset(asset_id)
    if asset is None:
        return html.Div([notice(f"No asset {asset_id!r} in this plant.", kind="error")])
    c = asset.config
    facts = [
        ("Area", asset.area),
        ("Type", asset.type),
        ("Speed", f"{c.speed_rpm[0]:.0f}-{c.speed_rpm[1]:.0f} rpm"),
        ("Rated power", f"{c.rated_power_kw:g} kW"),
        ("Sensors", ", ".join(f"{s.id} ({s.modality.value})" for s in asset.sensors)),
    ]
    return html.Div(
        [
            html.H2(f"Asset {asset.id}"),
            html.Dl([x for k, v in facts for x in (html.Dt(k), html.Dd(v))], className="kv panel"),
            dcc.Store(id="asset-id", data=asset.id),
            html.Div(id="asset-body", children=body(asset.id)),
            dcc.Interval(id="asset-tick", interval=int(ctx.refresh_s * 2000)),
        ]
    )


@callback(
    Output("asset-body", "children"),
    Input("asset-tick", "n_intervals"),
    State("asset-id", "data"),
    prevent_initial_call=True,
)
def refresh(_n: int, asset_id: str) -> list:
    return body(asset_id)


def body(asset_id: str) -> list:
    ctx, user = current(), current_user()
    asset = ctx.plant.asset(asset_id)
    now = time.time_ns()
    out: list = []
    try:
        alarms = [a for a in ctx.api.alarms(user.token, asset=asset_id) if a.asset == asset_id]
    except ApiError as exc:
        alarms = []
        out.append(notice(f"Alarm service not reachable: {exc.detail}", kind="error"))
    history: list = (
        ctx.store.health_history(asset_id, now - TREND_S * 10**9, now) if ctx.store else []
    )
    # the store has serve's scores as it flushes them (about a minute apart); the alarm
    # engine's latest is newer where it is: the summary and the trend end with it
    try:
        live = ctx.api.asset_health(user.token, asset_id)
    except ApiError:
        live = None  # said above if the service is down; the store's history still shows
    history = with_live(history, live)
    latest = history[-1] if history else None
    # open alarms, shelved ones included: the page links to each (with its state)
    out.append(_summary(latest, [a for a in alarms if not a.closed and a.state != "normal"]))
    trend = health_trend(
        [e.ts_ns for e in history],
        [e.health for e in history],
        alarms,
        "Health, last 24 h (alarms marked)",
    )
    out.append(
        html.Div(
            dcc.Graph(id={"type": "trend", "asset": asset_id}, figure=trend, config=GRAPH_CONFIG),
            className="panel",
        )
    )
    fault = latest.fault_class if latest else ""
    expl, problem = latest_for_asset(ctx.api, user.token, asset_id, alarms)
    if problem:
        out.append(notice(problem, kind="error"))
    out.append(shapley_panel(expl, f"asset-{asset_id}"))
    at = evidence_time(now, latest, expl)
    out += evidence_panels(ctx.plant, ctx.store, ctx.insight, asset, at, fault, expl)
    return out


def _summary(latest, active) -> html.Div:
    if latest is None:
        head = [html.Span("No health score yet.")]
    else:
        missing = ", ".join(latest.missing) or "none"
        head = [
            html.Span(f"Health {latest.health:.0f}", className="big", id="asset-health"),
            html.Span(
                f" at {fmt_ts(latest.ts_ns)}; most likely {latest.fault_class} "
                f"(p={latest.fault_probability:.2f}); p-value {latest.p_value:.3g}; "
                f"missing: {missing}; model {latest.model_version}"
            ),
        ]
    rows = [
        html.Div(
            [
                priority_badge(a.priority),
                " ",
                state_badge(a),
                " ",
                dcc.Link(f"{a.fault_class} (alarm {a.id})", href=f"/alarm/{a.id}"),
            ]
        )
        for a in active
    ]
    return html.Div([html.Div(head), *rows], className="panel", id="asset-summary")
