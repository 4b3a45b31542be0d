"""The live plant picture: latest health per asset, active alarms and data health, gathered once.

The alarm API is the live source (the engine sees every health event); the store supplies dead
letters and ingest's figures. A source that fails is named in the result, never hidden.
"""

from __future__ import annotations

import logging
import time

from dashboard.data.alarm_views import Alarm, HealthView
from dashboard.data.alarms_api import AlarmApiClient, ApiError
from dashboard.data.overview import Overview, build_overview
from dashboard.data.store import StoreView
from plant.config import PlantConfig

log = logging.getLogger(__name__)


def plant_overview(
    plant: PlantConfig, api: AlarmApiClient, store: StoreView | None, token: str
) -> Overview:
    now_ns = time.time_ns()
    down: list[str] = []
    health: dict[str, HealthView] = {}
    alarms: list[Alarm] = []
    floods: list[str] = []
    try:
        health = api.latest_health(token)
        alarms = api.alarms(token, open=True)
        floods = api.counts(token).get("flooding", [])
    except ApiError as exc:
        log.warning("overview: %s", exc)
        down.append("alarm API")
    stats = store.ingest_stats() if store is not None else None
    if stats is None:
        down.append("ingest figures (no ingest snapshot in the store)")
    return build_overview(
        plant.resolved_assets,
        {a.id: a.name or a.id for a in plant.areas},
        health,
        alarms,
        now_ns=now_ns,
        dead_letters=stats.dead_letters if stats else None,
        last_seen_ns=stats.last_seen_ns if stats else None,
        ingest_lag_s=stats.lag_s if stats else None,
        ingest_started_ns=stats.started_ns if stats else 0,
        stale_periods=plant.windows.stale_after_periods,
        floods=floods,
        sources_down=down,
    )
