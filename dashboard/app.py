"""The Dash app shell: navigation, the page container and login. Pages live in ``pages/``."""

from __future__ import annotations

from pathlib import Path

import dash
from dash import dcc, html

from dashboard import auth, overview_doc
from dashboard.context import CONFIG_KEY, DashboardContext

HERE = Path(__file__).resolve().parent
dash.hooks.index()(overview_doc.static_overview)  # Dash hooks are global: registered once


def create_app(ctx: DashboardContext, secret: bytes, *, secure_cookies: bool = False) -> dash.Dash:
    """One app per process (Dash keeps its page registry global)."""
    app = dash.Dash(
        "dashboard",
        use_pages=True,
        pages_folder=str(HERE / "pages"),
        assets_folder=str(HERE / "assets"),
        title="plantwatch",
        update_title=None,
        suppress_callback_exceptions=True,
        compress=False,
    )
    app.index_string = overview_doc.INDEX  # a marker where the first paint of / goes
    app.server.config[CONFIG_KEY] = ctx
    auth.install(app.server, secret, secure_cookies=secure_cookies)
    app.layout = shell(ctx.plant.plant.name)
    return app


def shell(plant_name: str) -> html.Div:
    links = [("Overview", "/"), ("Alarms", "/alarms"), ("Model", "/model")]
    return html.Div(
        [
            html.Header(
                [
                    html.Span("plantwatch", className="brand"),
                    html.Span(plant_name, className="plant-name"),
                    html.Nav([dcc.Link(t, href=h, className="nav-link") for t, h in links]),
                    html.A("Log out", href="/logout", className="logout"),
                ],
                className="topbar",
            ),
            html.Main(dash.page_container, className="content"),
        ]
    )
