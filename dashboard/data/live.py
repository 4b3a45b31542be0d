"""The live plant picture: latest health per asset, active alarms and data health, gathered once.

The alarm API is the live source (the engine sees every health event); the store supplies dead
letters and ingest's figures. A source that fails is named in the result, never hidden.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor

from dashboard.data.alarm_views import Alarm, HealthView
from dashboard.data.alarms_api import AlarmApiClient, ApiError
from dashboard.data.overview import Overview, build_overview
from dashboard.data.store import StoreView
from plant.config import PlantConfig

log = logging.getLogger(__name__)
_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="overview")


def plant_overview(
    plant: PlantConfig, api: AlarmApiClient, store: StoreView | None, token: str
) -> Overview:
    now_ns = time.time_ns()
    down: list[str] = []
    health: dict[str, HealthView] = {}
    alarms: list[Alarm] = []
    floods: list[str] = []
    # the three API calls and the store's figures at once: the page waits for the slowest only
    calls = {
        "health": lambda: api.latest_health(token),
        "alarms": lambda: api.alarms(token, open=True),
        "counts": lambda: api.counts(token),
        "stats": (lambda: store.ingest_stats()) if store is not None else (lambda: None),
    }
    futures = {k: _POOL.submit(f) for k, f in calls.items()}
    try:
        health = futures["health"].result()
        alarms = futures["alarms"].result()
        floods = futures["counts"].result().get("flooding", [])
    except ApiError as exc:
        log.warning("overview: %s", exc)
        down.append("alarm API")
    stats = futures["stats"].result()
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
