"""The alarm API's routes: one table, from which Flask's URL map and the OpenAPI document follow.

Each handler gets the request context, the authenticated user, the validated body or query and
the path parameters, and returns ``(status, JSON document)``. It only calls the engine's public
methods; the engine is the only writer of the journal.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from plant.alarms.api import schemas as s
from plant.alarms.engine import AlarmEngine
from plant.config.alarms import ApiConfig
from plant.users import ROLE_PERMISSIONS, LoginThrottle, Permission, User, UserError, UserStore

PREFIX = "/api/v1"


class ThrottledError(PermissionError):
    """Too many failed password attempts for this username: 429."""


class BadRequestError(ValueError):
    """Valid JSON, but a value the handler refuses (e.g. longer than allowed): 400."""


@dataclasses.dataclass(frozen=True, slots=True)
class Context:
    engine: AlarmEngine
    users: UserStore
    settings: ApiConfig
    throttle: LoginThrottle = dataclasses.field(default_factory=LoginThrottle)
    # the scorer's on-request explanation of an asset's latest window (plantwatch serve)
    explain: Callable[[str], dict[str, Any] | None] | None = None

    def login(self, username: str, password: str) -> User | None:
        """Check a password, unless the username is throttled after repeated failures."""
        if self.throttle.blocked(username):
            raise ThrottledError(f"too many failed logins for {username!r}; try again later")
        user = self.users.authenticate(username, password)
        self.throttle.record(username, user is not None)
        return user


@dataclasses.dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str  # OpenAPI form: {alarm_id} is an integer, {asset} and {username} strings
    handler: Callable[..., tuple[int, Any]]
    summary: str
    permission: Permission | None  # None: no user needed (healthz; tokens checks the body)
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None


def healthz(ctx: Context, user: User | None) -> tuple[int, Any]:
    return 200, {"status": "ok"}


def issue_token(ctx: Context, user: User | None, body: s.TokenRequest) -> tuple[int, Any]:
    who = ctx.login(body.username, body.password)
    if who is None:
        return 401, {"error": "unauthorized", "detail": "unknown user or wrong password"}
    ttl = min(body.ttl_s or ctx.settings.token_ttl_s, ctx.settings.token_ttl_s)
    issued = ctx.users.issue_token(who.username, ttl, body.label)
    return 201, {
        "token": issued.token,
        "token_type": "Bearer",
        "username": who.username,
        "role": who.role.value,
        "expires_ns": issued.expires_ns,
    }


def me(ctx: Context, user: User) -> tuple[int, Any]:
    perms = sorted(p.value for p in ROLE_PERMISSIONS[user.role])
    return 200, {"username": user.username, "role": user.role.value, "permissions": perms}


def list_alarms(ctx: Context, user: User, query: s.AlarmQuery) -> tuple[int, Any]:
    filters = query.model_dump(exclude_none=True, mode="json")
    return 200, {"alarms": ctx.engine.list_alarms(**filters)}


def get_alarm(ctx: Context, user: User, alarm_id: int) -> tuple[int, Any]:
    return 200, ctx.engine.get_alarm(alarm_id)


def acknowledge(ctx: Context, user: User, body: s.CommentOnly, alarm_id: int) -> tuple[int, Any]:
    return 200, ctx.engine.acknowledge(alarm_id, user.username, body.comment).to_dict()


def shelve(ctx: Context, user: User, body: s.ShelveRequest, alarm_id: int) -> tuple[int, Any]:
    limit = ctx.settings.max_shelve_s
    if body.duration_s > limit:
        raise BadRequestError(f"duration_s {body.duration_s:g} is above api.max_shelve_s {limit:g}")
    alarm = ctx.engine.shelve(alarm_id, body.duration_s, user.username, body.comment)
    return 200, alarm.to_dict()


def unshelve(ctx: Context, user: User, body: s.CommentOnly, alarm_id: int) -> tuple[int, Any]:
    return 200, ctx.engine.unshelve(alarm_id, user.username, body.comment).to_dict()


def comment(ctx: Context, user: User, body: s.CommentRequest, alarm_id: int) -> tuple[int, Any]:
    return 200, ctx.engine.comment(alarm_id, user.username, body.comment).to_dict()


def close(ctx: Context, user: User, body: s.CloseRequest, alarm_id: int) -> tuple[int, Any]:
    fault = body.fault_class.value if body.fault_class else None
    alarm = ctx.engine.close_alarm(alarm_id, body.outcome, user.username, body.comment, fault)
    return 200, alarm.to_dict()


def out_of_service(ctx: Context, user: User, body: s.CommentOnly, alarm_id: int) -> tuple[int, Any]:
    return 200, ctx.engine.set_out_of_service(alarm_id, True, user.username, body.comment).to_dict()


def return_to_service(
    ctx: Context, user: User, body: s.CommentOnly, alarm_id: int
) -> tuple[int, Any]:
    alarm = ctx.engine.set_out_of_service(alarm_id, False, user.username, body.comment)
    return 200, alarm.to_dict()


def counts(ctx: Context, user: User) -> tuple[int, Any]:
    return 200, ctx.engine.counts()


def maintenance_start(ctx: Context, user: User, body: s.CommentOnly, asset: str) -> tuple[int, Any]:
    n = ctx.engine.maintenance_start(asset, user.username, body.comment)
    return 200, {"asset": asset, "in_maintenance": True, "alarms_out_of_service": n}


def maintenance_end(ctx: Context, user: User, body: s.CommentOnly, asset: str) -> tuple[int, Any]:
    n = ctx.engine.maintenance_end(asset, user.username, body.comment)
    return 200, {"asset": asset, "in_maintenance": False, "alarms_reset": n}


def all_health(ctx: Context, user: User) -> tuple[int, Any]:
    return 200, {"health": ctx.engine.health()}


def asset_health(ctx: Context, user: User, asset: str) -> tuple[int, Any]:
    doc = ctx.engine.health().get(asset)
    if doc is None:
        return 404, {"error": "not_found", "detail": f"no health yet for asset {asset}"}
    return 200, doc


def asset_explanation(ctx: Context, user: User, asset: str) -> tuple[int, Any]:
    if ctx.explain is None:
        return 503, {"error": "unavailable", "detail": "no scorer runs with this API"}
    if ctx.engine.config.asset(asset) is None:
        return 404, {"error": "not_found", "detail": f"asset {asset} is not in the plant config"}
    doc = ctx.explain(asset)
    if doc is None:
        return 404, {"error": "not_found", "detail": f"no model or no data yet for asset {asset}"}
    return 200, doc


def list_users(ctx: Context, user: User) -> tuple[int, Any]:
    return 200, {
        "users": [{"username": u.username, "role": u.role.value} for u in ctx.users.users()]
    }


def create_user(ctx: Context, user: User, body: s.UserCreate) -> tuple[int, Any]:
    try:
        made = ctx.users.create_user(body.username, body.password, body.role)
    except UserError as exc:
        return 409, {"error": "conflict", "detail": str(exc)}
    return 201, {"username": made.username, "role": made.role.value}


def delete_user(ctx: Context, user: User, username: str) -> tuple[int, Any]:
    if username == user.username:
        raise BadRequestError("an admin cannot delete their own account")
    if not ctx.users.delete_user(username):
        return 404, {"error": "not_found", "detail": f"no user {username}"}
    return 200, {"deleted": username}


P = Permission
A = f"{PREFIX}/alarms/{{alarm_id}}"
ROUTES: tuple[Route, ...] = (
    Route("GET", "/healthz", healthz, "liveness (no authentication)", None),
    Route("POST", f"{PREFIX}/tokens", issue_token, "issue an API token", None, s.TokenRequest),
    Route("GET", f"{PREFIX}/me", me, "who am I: user, role, permissions", P.VIEW),
    Route("GET", f"{PREFIX}/alarms", list_alarms, "list alarms", P.VIEW, query=s.AlarmQuery),
    Route("GET", f"{PREFIX}/alarms/counts", counts, "counts by priority and area", P.VIEW),
    Route("GET", A, get_alarm, "one alarm with its journal", P.VIEW),
    Route("POST", f"{A}/acknowledge", acknowledge, "acknowledge", P.ACKNOWLEDGE, s.CommentOnly),
    Route("POST", f"{A}/shelve", shelve, "shelve until expiry", P.SHELVE, s.ShelveRequest),
    Route("POST", f"{A}/unshelve", unshelve, "unshelve", P.SHELVE, s.CommentOnly),
    Route("POST", f"{A}/comment", comment, "add a comment", P.COMMENT, s.CommentRequest),
    Route("POST", f"{A}/close", close, "close with the outcome", P.CLOSE, s.CloseRequest),
    Route(
        "POST",
        f"{A}/out-of-service",
        out_of_service,
        "take out of service",
        P.MAINTENANCE,
        s.CommentOnly,
    ),
    Route(
        "POST",
        f"{A}/return-to-service",
        return_to_service,
        "return to service",
        P.MAINTENANCE,
        s.CommentOnly,
    ),
    Route(
        "POST",
        f"{PREFIX}/assets/{{asset}}/maintenance/start",
        maintenance_start,
        "maintenance starts: the asset's alarms go out of service",
        P.MAINTENANCE,
        s.CommentOnly,
    ),
    Route(
        "POST",
        f"{PREFIX}/assets/{{asset}}/maintenance/end",
        maintenance_end,
        "maintenance ends: alarm state reset, new baseline",
        P.MAINTENANCE,
        s.CommentOnly,
    ),
    Route("GET", f"{PREFIX}/health", all_health, "latest health of every asset", P.VIEW),
    Route("GET", f"{PREFIX}/health/{{asset}}", asset_health, "latest health of one asset", P.VIEW),
    Route(
        "GET",
        f"{PREFIX}/assets/{{asset}}/health",
        asset_health,
        "latest health of one asset (as /health/{asset})",
        P.VIEW,
    ),
    Route(
        "GET",
        f"{PREFIX}/assets/{{asset}}/explanation",
        asset_explanation,
        "the asset's latest window, explained now (Shapley per modality + evidence)",
        P.VIEW,
    ),
    Route("GET", f"{PREFIX}/users", list_users, "list users", P.USERS),
    Route("POST", f"{PREFIX}/users", create_user, "create a user", P.USERS, s.UserCreate),
    Route("DELETE", f"{PREFIX}/users/{{username}}", delete_user, "delete a user", P.USERS),
)
