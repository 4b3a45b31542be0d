"""The alarm HTTP API as a WSGI app (Flask): authentication, authorisation, validation, errors.

Every route but ``GET /healthz`` needs a user: a bearer token (``POST /api/v1/tokens``) or HTTP
Basic credentials. A bad request gets a 4xx with the reason and changes nothing: bodies and query
strings are validated before the engine is called, and the engine refuses actions that do not
apply to an alarm's state (409) without changing it.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, jsonify, request
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from plant.alarms.actions import AlarmConflictError, AlarmNotFoundError
from plant.alarms.api.openapi import openapi_document
from plant.alarms.api.routes import (
    PREFIX,
    ROUTES,
    BadRequestError,
    Context,
    Route,
    ThrottledError,
)
from plant.alarms.engine import AlarmEngine
from plant.config.alarms import ApiConfig
from plant.users import LoginThrottle, User, UserStore

log = logging.getLogger(__name__)
CHALLENGE = 'Bearer realm="plantwatch", Basic realm="plantwatch"'


def create_app(
    engine: AlarmEngine,
    users: UserStore,
    settings: ApiConfig | None = None,
    throttle: LoginThrottle | None = None,
    explain: Callable[[str], dict[str, Any] | None] | None = None,
) -> Flask:
    """The WSGI app serving the alarm API under /api/v1 (and /healthz). ``explain``: the
    scorer's on-request explanation (``GET /api/v1/assets/{asset}/explanation``)."""
    settings = settings or engine.settings.api
    ctx = Context(engine, users, settings, throttle or LoginThrottle(), explain)
    app = Flask("plantwatch.alarms", static_folder=None)  # nothing served unauthenticated
    app.json.sort_keys = False  # type: ignore[attr-defined]
    for route in ROUTES:
        app.add_url_rule(
            _flask_rule(route.path),
            endpoint=f"{route.method} {route.path}",
            view_func=_view(ctx, route),
            methods=[route.method],
        )
    doc = openapi_document(ROUTES)

    def openapi() -> Response:
        user, failure = _authenticate(ctx)
        return failure if user is None else jsonify(doc)  # type: ignore[return-value]

    app.add_url_rule(f"{PREFIX}/openapi.json", "openapi", openapi, methods=["GET"])
    app.register_error_handler(HTTPException, _http_error)
    return app


def _flask_rule(path: str) -> str:
    return path.replace("{alarm_id}", "<int:alarm_id>").replace("{", "<").replace("}", ">")


def _error(status: int, error: str, detail: Any) -> Response:
    response = jsonify({"error": error, "detail": detail})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = CHALLENGE
    return response


def _http_error(exc: HTTPException) -> Response:
    return _error(exc.code or 500, exc.name.lower().replace(" ", "_"), exc.description)


def _authenticate(ctx: Context) -> tuple[User | None, Response | None]:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    user = None
    if scheme.lower() == "bearer" and value:
        user = ctx.users.verify_token(value.strip())
    elif scheme.lower() == "basic" and value:
        try:
            name, _, password = (
                base64.b64decode(value.strip(), validate=True).decode().partition(":")
            )
        except (binascii.Error, UnicodeDecodeError):
            return None, _error(401, "unauthorized", "malformed Basic credentials")
        try:
            user = ctx.login(name, password)
        except ThrottledError as exc:
            return None, _error(429, "too_many_requests", str(exc))
    if user is None:
        detail = "a valid bearer token or Basic credentials are required"
        return None, _error(401, "unauthorized", detail)
    return user, None


def _parse(route: Route) -> dict[str, Any]:
    """The validated body / query for ``route``; raises ValidationError or BadRequestError."""
    if route.query is not None:
        return {"query": route.query.model_validate(request.args.to_dict())}
    if route.body is None:
        return {}
    raw = request.get_data(cache=True)
    data = {} if not raw.strip() else request.get_json(silent=True)
    if not isinstance(data, dict):
        raise BadRequestError("the body must be a JSON object")
    return {"body": route.body.model_validate(data)}


def _view(ctx: Context, route: Route) -> Any:
    def view(**path: Any) -> Response:
        user = None
        if route.permission is not None:
            user, failure = _authenticate(ctx)
            if user is None:
                return failure  # type: ignore[return-value]
            if not user.can(route.permission):
                detail = f"role {user.role.value} lacks permission {route.permission.value}"
                return _error(403, "forbidden", detail)
        try:
            status, doc = route.handler(ctx, user, **_parse(route), **path)
        except ValidationError as exc:
            errors = [
                {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()
            ]
            return _error(400, "invalid_request", errors)
        except BadRequestError as exc:
            return _error(400, "invalid_request", str(exc))
        except ThrottledError as exc:
            return _error(429, "too_many_requests", str(exc))
        except AlarmNotFoundError as exc:
            return _error(404, "not_found", str(exc))
        except AlarmConflictError as exc:
            return _error(409, "conflict", str(exc))
        response = jsonify(doc)
        response.status_code = status
        return response

    view.__name__ = f"{route.method.lower()}_{route.handler.__name__}"
    return view
