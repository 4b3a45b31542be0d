"""Wiring the dashboard for serving: data sources, the session secret, the Dash app."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path

import dash
from werkzeug.serving import make_server

from dashboard.app import create_app
from dashboard.auth import load_or_create_secret
from dashboard.context import DashboardContext
from dashboard.data.alarms_api import AlarmApiClient
from dashboard.data.model_info import ModelInsight
from dashboard.data.store import StoreView
from plant.config import PlantConfig
from plant.users import UserStore

log = logging.getLogger(__name__)


def build_app(
    plant: PlantConfig,
    *,
    api_url: str,
    store: str | None,
    registry: Path | None,
    secret_file: Path,
    secret: bytes | None = None,
    users_db: Path | None = None,
    secure_cookies: bool = False,
    refresh_s: float = 5.0,
    serve_state_dir: Path | None = None,
) -> dash.Dash:
    store_view = None
    if store and Path(store).exists():
        store_view = StoreView(store)
    else:
        log.warning("store %s not found: evidence and trends will say so", store)
    reg = registry if registry and registry.exists() else None
    users_path = Path(users_db or plant.alarms.users_path)
    users = UserStore(users_path) if users_path.exists() else None
    if users is None:
        log.info("no users database at %s: logins go through the alarm API", users_path)
    ctx = DashboardContext(
        plant=plant,
        api=AlarmApiClient(api_url),
        store=store_view,
        registry_dir=reg,
        insight=ModelInsight(reg, serve_state_dir),
        users=users,
        token_ttl_s=plant.alarms.api.token_ttl_s,
        refresh_s=refresh_s,
    )
    key = secret if secret else load_or_create_secret(secret_file)
    app = create_app(ctx, key, secure_cookies=secure_cookies)
    if reg is not None:  # the active model, loaded before the first evidence page asks
        threading.Thread(target=ctx.insight.warm, name="model-warm", daemon=True).start()
    return app


def serve_until_stopped(
    app: dash.Dash, host: str, port: int, ssl_context: tuple[str, str] | None = None
) -> None:
    """Serve until SIGTERM or SIGINT, then stop accepting, finish requests in flight and return.

    Werkzeug's threaded server runs in a worker thread; the main thread only waits for a signal,
    so the handler never has to stop the server from inside its own loop (which would deadlock).
    """
    server = make_server(host, port, app.server, threaded=True, ssl_context=ssl_context)
    stop = threading.Event()
    received: list[str] = []

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    worker = threading.Thread(target=server.serve_forever, name="dashboard-http", daemon=True)
    worker.start()
    try:
        while not stop.wait(0.5):
            if not worker.is_alive():  # the server loop died on its own: say so, do not hang
                raise RuntimeError("the dashboard's HTTP server stopped unexpectedly")
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        server.shutdown()
        server.server_close()
        worker.join(timeout=5)
    log.info("dashboard stopped (%s)", received[0] if received else "server exit")
