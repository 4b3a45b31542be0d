"""What the running dashboard reads through: wired once by the CLI, found by pages via Flask."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import flask

from dashboard.data.alarms_api import AlarmApiClient
from dashboard.data.model_info import ModelInsight
from dashboard.data.store import StoreView
from plant.config import PlantConfig
from plant.users import Permission, Role, User, UserStore

CONFIG_KEY = "PLANTWATCH_DASHBOARD"
log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclasses.dataclass(frozen=True, slots=True)
class Principal:
    """The logged-in user as the dashboard knows them; ``token`` authorises alarm API calls."""

    username: str
    role: str
    token: str

    @property
    def can_act(self) -> bool:
        """May acknowledge, shelve and comment (the alarm API enforces it again)."""
        try:
            return User(self.username, Role(self.role)).can(Permission.ACKNOWLEDGE)
        except ValueError:
            return False


@dataclasses.dataclass(slots=True)
class DashboardContext:
    plant: PlantConfig
    api: AlarmApiClient
    store: StoreView | None
    registry_dir: Path | None
    insight: ModelInsight
    users: UserStore | None = None  # plant/users.py database shared with the alarm API
    token_ttl_s: float = 12 * 3600
    refresh_s: float = 5.0
    _cache: dict[str, tuple[float, Any]] = dataclasses.field(default_factory=dict)
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    _refreshing: set[str] = dataclasses.field(default_factory=set)

    def cached(self, key: str, ttl_s: float, compute: Callable[[], T], stale_s: float = 0.0) -> T:
        """One computation per ``ttl_s`` for all sessions: aggregate once, not per tab.

        With ``stale_s`` > ``ttl_s``, a value older than ``ttl_s`` but younger than ``stale_s``
        is returned at once while one background thread recomputes it (stale-while-revalidate):
        a page then never waits for the aggregation while the dashboard is in use, and its data
        is at most ``stale_s`` old, as with the live refresh of the page itself.
        """
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and now - hit[0] < ttl_s:
                return hit[1]
            if hit is not None and now - hit[0] < stale_s:
                if key not in self._refreshing:
                    self._refreshing.add(key)
                    threading.Thread(target=self._refresh, args=(key, compute), daemon=True).start()
                return hit[1]
        value = compute()
        with self._lock:
            self._cache[key] = (time.monotonic(), value)
        return value

    def _refresh(self, key: str, compute: Callable[[], Any]) -> None:
        try:
            value = compute()
            with self._lock:
                self._cache[key] = (time.monotonic(), value)
        except Exception:  # the stale value stays; the next request tries again
            log.exception("refreshing %s failed", key)
        finally:
            with self._lock:
                self._refreshing.discard(key)


def current() -> DashboardContext:
    return flask.current_app.config[CONFIG_KEY]


def current_user() -> Principal | None:
    doc = flask.session.get("user")
    if not doc:
        return None
    return Principal(doc["username"], doc["role"], doc["token"])
