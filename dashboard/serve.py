"""Wiring the dashboard for serving: data sources, the session secret, the Dash app."""

from __future__ import annotations

import logging
from pathlib import Path

import dash

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
        insight=ModelInsight(reg),
        users=users,
        token_ttl_s=plant.alarms.api.token_ttl_s,
        refresh_s=refresh_s,
    )
    key = secret if secret else load_or_create_secret(secret_file)
    return create_app(ctx, key, secure_cookies=secure_cookies)
