"""A small client of the alarm HTTP API served by ``plantwatch serve`` (base path /api/v1).

The alarm engine is the only writer of the alarm journal; every change an operator makes on the
dashboard goes through here, with that operator's bearer token, so the journal says who.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from dashboard.data.alarm_views import Alarm, HealthView, alarm_from_api, health_from_api

log = logging.getLogger(__name__)

BASE_PATH = "/api/v1"
MAX_LIST = 10_000  # the API's own cap on one listing


class ApiError(RuntimeError):
    """The alarm API refused a request or could not be reached; ``status`` 0 means unreachable."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"alarm API: {status} {detail}")
        self.status = status
        self.detail = detail


class AlarmApiClient:
    """Synchronous JSON over HTTP; one instance is shared by all dashboard sessions."""

    def __init__(self, base_url: str, timeout_s: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s

    def _call(
        self,
        method: str,
        path: str,
        token: str | None = None,
        body: dict[str, Any] | None = None,
        query: dict[str, Any] | None = None,
    ) -> Any:
        url = f"{self.base_url}{BASE_PATH}{path}"
        if query:
            pairs = {k: _q(v) for k, v in query.items() if v not in (None, "", [])}
            url += "?" + urllib.parse.urlencode(pairs, doseq=True)
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raise ApiError(exc.code, _error_detail(exc)) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise ApiError(0, f"{self.base_url} unreachable: {exc}") from None
        return json.loads(raw) if raw else None

    # -- sessions ---------------------------------------------------------------------------
    def create_token(self, username: str, password: str) -> dict[str, Any]:
        """Exchange a username and password for a bearer token (the password is never logged)."""
        return self._call("POST", "/tokens", body={"username": username, "password": password})

    # -- reading ----------------------------------------------------------------------------
    def alarms(self, token: str, **filters: Any) -> list[Alarm]:
        """Newest first. Filters (the API's): state, kind, priority (this or higher), area,
        asset, open (bool), limit."""
        query = {"limit": MAX_LIST, **filters}
        doc = self._call("GET", "/alarms", token, query=query)
        return [alarm_from_api(r) for r in doc["alarms"]]

    def alarm(self, token: str, alarm_id: str) -> Alarm:
        doc = self._call("GET", f"/alarms/{urllib.parse.quote(alarm_id, safe='')}", token)
        return alarm_from_api(doc)

    def latest_health(self, token: str) -> dict[str, HealthView]:
        """The alarm engine's latest health event per asset."""
        doc = self._call("GET", "/health", token)
        return {asset: health_from_api(h) for asset, h in doc["health"].items()}

    def asset_health(self, token: str, asset: str) -> HealthView | None:
        """The alarm engine's latest health event of ``asset`` (None: none yet)."""
        path = f"/assets/{urllib.parse.quote(asset, safe='')}/health"
        try:
            return health_from_api(self._call("GET", path, token))
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    def asset_explanation(self, token: str, asset: str) -> tuple[dict[str, Any], int | None] | None:
        """The latest window of ``asset`` explained on request by ``plantwatch serve``
        (``GET /assets/{asset}/explanation``): (explanation document, window time), or None when
        the server has none or does not serve the route."""
        path = f"/assets/{urllib.parse.quote(asset, safe='')}/explanation"
        try:
            doc = self._call("GET", path, token)
        except ApiError as exc:
            if exc.status in (404, 405, 501, 503):  # none yet, no such route, no scorer
                return None
            raise
        if not isinstance(doc, dict) or not doc:
            return None
        if "shapley" not in doc and isinstance(doc.get("explanation"), dict):
            ts = doc.get("ts_ns")
            return doc["explanation"], int(ts) if ts is not None else None
        return doc, None

    def counts(self, token: str) -> dict[str, Any]:
        return self._call("GET", "/alarms/counts", token)

    # -- changing (each one journaled by the alarm engine) -----------------------------------
    def acknowledge(self, token: str, alarm_id: str, comment: str = "") -> Alarm:
        return self._act(token, alarm_id, "acknowledge", {"comment": comment})

    def shelve(self, token: str, alarm_id: str, duration_s: float, reason: str) -> Alarm:
        body = {"duration_s": duration_s, "comment": reason}
        return self._act(token, alarm_id, "shelve", body)

    def comment(self, token: str, alarm_id: str, text: str) -> Alarm:
        return self._act(token, alarm_id, "comment", {"comment": text})

    def _act(self, token: str, alarm_id: str, action: str, body: dict[str, Any]) -> Alarm:
        path = f"/alarms/{urllib.parse.quote(alarm_id, safe='')}/{action}"
        doc = self._call("POST", path, token, body=body)
        log.info("alarm %s: %s sent", alarm_id, action)
        return alarm_from_api(doc)


def _q(value: Any) -> Any:
    return ("true" if value else "false") if isinstance(value, bool) else value


def _error_detail(exc: urllib.error.HTTPError) -> str:
    try:
        doc = json.loads(exc.read() or b"{}")
    except (ValueError, OSError):
        return exc.reason or ""
    if isinstance(doc, dict):
        return str(doc.get("detail") or doc.get("error") or exc.reason)
    return str(exc.reason)
