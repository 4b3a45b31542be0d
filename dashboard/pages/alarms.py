"""Alarm list: ISA-18.2 state, priority, age, asset, fault class; acknowledge, shelve, comment."""

from __future__ import annotations

import time

import dash
from dash import ALL, Input, Output, State, callback, dcc, html

from dashboard.components import fmt_age, notice, priority_badge, state_badge
from dashboard.context import current, current_user
from dashboard.data.actions import SHELVE_CHOICES_S, perform
from dashboard.data.alarm_views import PRIORITIES, PRIORITY_RANK, STATE_LABELS, Alarm
from dashboard.data.alarms_api import ApiError

dash.register_page(__name__, path="/alarms", title="plantwatch: alarms", order=1)

ACTION_TYPE = "alarm-list-action"
FLOOD_KIND = "flood"


def layout(priority: str | None = None, **_query: str) -> html.Div:
    ctx = current()
    areas = [{"label": a.name or a.id, "value": a.id} for a in ctx.plant.areas]
    return html.Div(
        [
            html.H2("Alarms"),
            html.Div(
                [
                    _filter(
                        "State",
                        dcc.Dropdown(
                            [{"label": v, "value": k} for k, v in STATE_LABELS.items()],
                            multi=True,
                            id="f-state",
                            placeholder="open alarms",
                        ),
                    ),
                    _filter(
                        "Priority",
                        dcc.Dropdown(
                            list(PRIORITIES),
                            [priority] if priority in PRIORITIES else [],
                            multi=True,
                            id="f-priority",
                        ),
                    ),
                    _filter("Area", dcc.Dropdown(areas, multi=True, id="f-area")),
                    _filter(
                        "Asset",
                        dcc.Input(
                            id="f-asset", type="text", debounce=True, style={"width": "140px"}
                        ),
                    ),
                ],
                className="filters",
            ),
            html.Div(
                [
                    html.Span("Shelve for"),
                    dcc.Dropdown(
                        list(SHELVE_CHOICES_S),
                        "1 h",
                        id="shelve-for",
                        clearable=False,
                        style={"width": "100px"},
                    ),
                    dcc.Input(
                        id="action-text",
                        type="text",
                        placeholder="comment / reason",
                        style={"width": "320px"},
                    ),
                ],
                className="actions",
            ),
            html.Div(id="alarms-feedback"),
            html.Div(id="alarms-table"),
            dcc.Store(id="alarms-version", data=0),
            dcc.Interval(id="alarms-tick", interval=int(ctx.refresh_s * 1000)),
        ]
    )


def _filter(label: str, control: object) -> html.Label:
    return html.Label([label, control])


@callback(
    Output("alarms-table", "children"),
    Input("f-state", "value"),
    Input("f-priority", "value"),
    Input("f-area", "value"),
    Input("f-asset", "value"),
    Input("alarms-tick", "n_intervals"),
    Input("alarms-version", "data"),
)
def render(states, priorities, areas, asset, _n, _v) -> list:
    user = current_user()
    try:
        alarms = current().api.alarms(user.token, open=not states)
    except ApiError as exc:
        return [notice(f"Alarm service not reachable: {exc.detail}", kind="error")]
    shown = filter_alarms(alarms, states, priorities, areas, asset)
    return [_flood_banner(alarms), _table(shown, user.can_act)]


def filter_alarms(alarms: list[Alarm], states, priorities, areas, asset) -> list[Alarm]:
    out = [
        a
        for a in alarms
        if a.kind != FLOOD_KIND
        and (a.state in states if states else not a.closed)
        and (not priorities or a.priority in priorities)
        and (not areas or a.area in areas)
        and (not asset or asset.lower() in a.asset.lower())
    ]
    return sorted(out, key=lambda a: (PRIORITY_RANK.get(a.priority, 9), -a.raised_ns))


def _flood_banner(alarms: list[Alarm]) -> html.Div:
    floods = sorted({a.area for a in alarms if a.kind == FLOOD_KIND and a.active})
    if not floods:
        return html.Div(id="flood-indicator", className="hidden")
    return html.Div(
        notice(
            "ALARM FLOOD in " + ", ".join(floods) + ": more than 10 alarms in 10 minutes",
            kind="flood",
        ),
        id="flood-indicator",
    )


def _table(alarms: list[Alarm], can_act: bool) -> html.Table:
    now = time.time_ns()
    head = ["Priority", "State", "Age", "Asset", "Area", "Fault / source", "Kind", ""]
    rows = [html.Tr([html.Th(h) for h in head])]
    for a in alarms:
        rows.append(
            html.Tr(
                [
                    html.Td(priority_badge(a.priority)),
                    html.Td(state_badge(a)),
                    html.Td(fmt_age(a.age_s(now))),
                    html.Td(dcc.Link(a.asset, href=f"/asset/{a.asset}")),
                    html.Td(a.area),
                    html.Td(dcc.Link(a.fault_class or "(none)", href=f"/alarm/{a.id}")),
                    html.Td(a.kind),
                    html.Td(_buttons(a, can_act)),
                ],
                id=f"alarm-row-{a.id}",
                **{"data-state": a.state},
            )
        )
    if len(rows) == 1:
        rows.append(html.Tr(html.Td("No alarms match.", colSpan=len(head))))
    return html.Table(rows, className="grid", id="alarm-list")


def _buttons(a: Alarm, can_act: bool) -> html.Span:
    def btn(action: str, label: str, enabled: bool) -> html.Button:
        return html.Button(
            label,
            id={"type": ACTION_TYPE, "action": action, "alarm": a.id},
            disabled=not (can_act and enabled),
            n_clicks=0,
        )

    needs_ack = a.state in ("unacknowledged", "rtn_unacknowledged")
    return html.Span(
        [
            btn("acknowledge", "Ack", needs_ack),
            btn("shelve", "Shelve", a.active),
            btn("comment", "Comment", True),
        ],
        className="actions",
    )


@callback(
    Output("alarms-feedback", "children"),
    Output("alarms-version", "data"),
    Input({"type": ACTION_TYPE, "action": ALL, "alarm": ALL}, "n_clicks"),
    State("shelve-for", "value"),
    State("action-text", "value"),
    State("alarms-version", "data"),
    prevent_initial_call=True,
)
def act(clicks, shelve_for, text, version):
    trig = dash.ctx.triggered_id
    if not trig or not any(c for c in clicks if c):
        return dash.no_update, dash.no_update
    if not dash.ctx.triggered[0]["value"]:
        return dash.no_update, dash.no_update
    user = current_user()
    ok, msg = perform(
        current().api,
        user.token,
        trig["alarm"],
        trig["action"],
        shelve_s=SHELVE_CHOICES_S.get(shelve_for),
        text=text or "",
    )
    return notice(msg, kind="ok" if ok else "error"), (version or 0) + 1
