"""Alarm detail: modality Shapley explanation, evidence at the alarm's time, the journal."""

from __future__ import annotations

import time

import dash
from dash import ALL, Input, Output, State, callback, dcc, html

from dashboard.components import fmt_age, fmt_ts, notice, priority_badge, state_badge
from dashboard.context import current, current_user
from dashboard.data.actions import SHELVE_CHOICES_S, perform
from dashboard.data.alarm_views import Alarm
from dashboard.data.alarms_api import ApiError
from dashboard.data.explanation import for_alarm_page
from dashboard.evidence_panels import evidence_panels
from dashboard.shapley_panel import shapley_panel

dash.register_page(__name__, path_template="/alarm/<alarm_id>", title="plantwatch: alarm")

ACTION_TYPE = "alarm-detail-action"


def layout(alarm_id: str = "", **_query: str) -> html.Div:
    return html.Div(
        [
            dcc.Store(id="alarm-id", data=alarm_id),
            html.Div(id="alarm-feedback"),
            html.Div(id="alarm-head", children=head(alarm_id)),
            html.Div(id="alarm-evidence", children=evidence(alarm_id)),
        ]
    )


def _fetch(alarm_id: str) -> Alarm | str:
    try:
        return current().api.alarm(current_user().token, alarm_id)
    except ApiError as exc:
        return f"Alarm {alarm_id}: {exc.detail or exc.status}"


def head(alarm_id: str) -> list:
    a = _fetch(alarm_id)
    if isinstance(a, str):
        return [notice(a, kind="error")]
    can = current_user().can_act
    title = html.H2(
        [
            f"Alarm {a.id}: {a.fault_class or a.kind} on ",
            dcc.Link(a.asset, href=f"/asset/{a.asset}"),
        ]
    )
    facts = [
        ("State", state_badge(a)),
        ("Priority", priority_badge(a.priority)),
        ("Raised", f"{fmt_ts(a.raised_ns)} ({fmt_age(a.age_s(time.time_ns()))} ago)"),
        ("Area", a.area),
        ("Kind", a.kind),
        ("Health / p-value", f"{_num(a.health, '.0f')} / {_num(a.p_value, '.3g')}"),
        ("Model", a.model_version or "-"),
    ]
    if a.shelved_until_ns:
        facts.append(("Shelved until", fmt_ts(a.shelved_until_ns)))
    needs_ack = a.state in ("unacknowledged", "rtn_unacknowledged")
    buttons = html.Div(
        [
            _btn("acknowledge", "Acknowledge", can and needs_ack),
            dcc.Dropdown(
                list(SHELVE_CHOICES_S),
                "1 h",
                id="detail-shelve-for",
                clearable=False,
                style={"width": "100px"},
            ),
            _btn("shelve", "Shelve", can and a.active),
            dcc.Input(
                id="detail-text",
                type="text",
                placeholder="comment / reason",
                style={"width": "300px"},
            ),
            _btn("comment", "Comment", can),
        ],
        className="actions",
    )
    return [
        title,
        html.Dl(
            [x for k, v in facts for x in (html.Dt(k), html.Dd(v))],
            className="kv panel",
            id="alarm-facts",
        ),
        buttons,
        _journal(a),
    ]


def _num(x: float | None, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def _btn(action: str, label: str, enabled: bool) -> html.Button:
    return html.Button(
        label, id={"type": ACTION_TYPE, "action": action}, n_clicks=0, disabled=not enabled
    )


def _journal(a: Alarm) -> html.Div:
    rows = [html.Tr([html.Th(h) for h in ("Time", "Who", "Action", "Comment")])]
    rows += [
        html.Tr([html.Td(fmt_ts(e.ts_ns)), html.Td(e.user), html.Td(e.action), html.Td(e.detail)])
        for e in a.journal
    ]
    return html.Div(
        [html.H3("Journal"), html.Table(rows, className="grid", id="journal")], className="panel"
    )


def evidence(alarm_id: str) -> list:
    a = _fetch(alarm_id)
    if isinstance(a, str):
        return []
    ctx = current()
    expl, problem = for_alarm_page(ctx.api, current_user().token, a)
    out = [notice(problem, kind="error")] if problem else []
    out.append(shapley_panel(expl, f"alarm-{a.id}"))
    asset = ctx.plant.asset(a.asset)
    if asset is None:
        return [*out, notice(f"Asset {a.asset} is not in this plant's config.")]
    out.append(html.H3(f"Evidence at the alarm's time, {fmt_ts(a.raised_ns)}"))
    return out + evidence_panels(
        ctx.plant, ctx.store, ctx.insight, asset, a.raised_ns, a.fault_class, expl
    )


@callback(
    Output("alarm-feedback", "children"),
    Output("alarm-head", "children"),
    Input({"type": ACTION_TYPE, "action": ALL}, "n_clicks"),
    State("detail-shelve-for", "value"),
    State("detail-text", "value"),
    State("alarm-id", "data"),
    prevent_initial_call=True,
)
def act(_clicks, shelve_for, text, alarm_id):
    if not dash.ctx.triggered_id or not dash.ctx.triggered[0]["value"]:
        return dash.no_update, dash.no_update
    ok, msg = perform(
        current().api,
        current_user().token,
        alarm_id,
        dash.ctx.triggered_id["action"],
        shelve_s=SHELVE_CHOICES_S.get(shelve_for),
        text=text or "",
    )
    return notice(msg, kind="ok" if ok else "error"), head(alarm_id)
