"""Login, sessions and CSRF for the dashboard. Nothing is served without login but /health.

A user logs in with the username and password of ``plant/users.py`` (the users database the alarm
API shares); the dashboard then issues that user a bearer token for the alarm API (so every
acknowledgement is journaled under that user) and keeps the token and role in a signed Flask
session. Without a local users database it asks the API's ``POST /api/v1/tokens`` instead.
Passwords are never stored or logged. Dash's renderer sends the ``_csrf_token`` cookie back as
the ``X-CSRFToken`` header; every callback POST must carry the value bound to the session.
"""

from __future__ import annotations

import dataclasses
import hmac
import html
import logging
import os
import secrets
from pathlib import Path

import flask

from dashboard.context import CONFIG_KEY, DashboardContext, Principal
from dashboard.data.alarms_api import ApiError

log = logging.getLogger(__name__)

CSRF_COOKIE = "_csrf_token"
CSRF_HEADER = "X-CSRFToken"
HEALTH_PATH = "/health"
PUBLIC_PATHS = frozenset({"/login", HEALTH_PATH, "/assets/style.css", "/_favicon.ico"})


def load_or_create_secret(path: Path) -> bytes:
    """The session signing key: created at first start with 0600 permissions, then reused."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_secret(path)
    with os.fdopen(fd, "wb") as f:
        f.write(secrets.token_hex(32).encode())
    log.info("created a new session secret at %s", path)
    return path.read_bytes().strip()


def _read_secret(path: Path) -> bytes:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise PermissionError(
            f"{path} has permissions {mode:o}; the session secret must be 0600 (chmod 600 {path})"
        )
    key = path.read_bytes().strip()
    if len(key) < 32:
        raise ValueError(f"{path} holds {len(key)} bytes; a session secret needs >= 32")
    return key


def install(server: flask.Flask, secret: bytes, *, secure_cookies: bool) -> None:
    server.secret_key = secret
    server.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure_cookies,
        SESSION_COOKIE_NAME="plantwatch_session",
    )
    server.before_request(_guard)
    server.add_url_rule("/login", "login", _login, methods=["GET", "POST"])
    server.add_url_rule("/logout", "logout", _logout, methods=["GET", "POST"])
    server.add_url_rule(HEALTH_PATH, "health", lambda: {"status": "ok"})


def _guard() -> flask.Response | None:
    path = flask.request.path
    if path in PUBLIC_PATHS:
        return None
    if not flask.session.get("user"):
        if flask.request.method == "GET" and not path.startswith("/_dash"):
            target = flask.request.full_path.rstrip("?")
            return flask.redirect(f"/login?next={_quote(target)}")
        return flask.Response("login required", status=401)
    if flask.request.method == "POST" and path.startswith("/_dash"):
        sent = flask.request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent, flask.session.get("csrf", "")):
            log.warning("callback refused: CSRF token mismatch for %s", path)
            return flask.Response("CSRF token missing or wrong", status=403)
    return None


def _login() -> flask.Response | str:
    nxt = _safe_next(flask.request.values.get("next", "/"))
    if flask.request.method == "GET":
        return _login_page(nxt, "")
    username = flask.request.form.get("username", "").strip()
    password = flask.request.form.get("password", "")
    ctx: DashboardContext = flask.current_app.config[CONFIG_KEY]
    try:
        principal = authenticate(ctx, username, password)
    except ApiError as exc:
        log.error("login: alarm API unavailable: %s", exc)
        return _login_page(nxt, "The alarm service cannot be reached; try again."), 503
    if principal is None:
        log.info("login refused for user %r", username)
        return _login_page(nxt, "Wrong username or password."), 401
    flask.session.clear()
    flask.session["user"] = dataclasses.asdict(principal)
    flask.session["csrf"] = secrets.token_urlsafe(24)
    log.info("user %r logged in (role %s)", username, flask.session["user"]["role"])
    resp = flask.redirect(nxt)
    resp.set_cookie(
        CSRF_COOKIE,
        flask.session["csrf"],
        samesite="Strict",
        secure=flask.current_app.config["SESSION_COOKIE_SECURE"],
    )
    return resp


def authenticate(ctx: DashboardContext, username: str, password: str) -> Principal | None:
    """A principal with an alarm API token, or None when the password is wrong."""
    if ctx.users is not None:
        user = ctx.users.authenticate(username, password)
        if user is None:
            return None
        token = ctx.users.issue_token(user.username, ctx.token_ttl_s, label="dashboard")
        return Principal(user.username, user.role.value, token.token)
    try:
        doc = ctx.api.create_token(username, password)
    except ApiError as exc:
        if exc.status in (400, 401, 403):
            return None
        raise
    return Principal(str(doc.get("username", username)), str(doc.get("role", "")), doc["token"])


def _logout() -> flask.Response:
    doc = flask.session.get("user")
    ctx: DashboardContext = flask.current_app.config[CONFIG_KEY]
    if doc and ctx.users is not None:
        ctx.users.revoke_token(doc["token"])
    flask.session.clear()
    resp = flask.redirect("/login")
    resp.delete_cookie(CSRF_COOKIE)
    return resp


def _safe_next(target: str) -> str:
    """Only local paths: never redirect to another site after login."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="/")


def _login_page(nxt: str, error: str) -> str:
    err = f'<p class="login-error" role="alert">{html.escape(error)}</p>' if error else ""
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>plantwatch: log in</title>
<link rel="stylesheet" href="/assets/style.css"></head>
<body class="login-body"><form class="login-box" method="post" action="/login">
<h1>plantwatch</h1>{err}
<input type="hidden" name="next" value="{html.escape(nxt)}">
<label>User <input name="username" id="username" autocomplete="username" required></label>
<label>Password <input name="password" id="password" type="password"
 autocomplete="current-password" required></label>
<button type="submit" id="login-submit">Log in</button></form></body></html>"""
