"""The alarm API over real HTTP(S) sockets: loopback by default, TLS required elsewhere."""

from __future__ import annotations

import json
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from plant.alarms import AlarmEngine
from plant.alarms.api import ApiServer, InsecureBindError, check_bind, create_app
from plant.config.alarms import ApiConfig
from plant.users import UserStore
from tests.alarm_helpers import LOW, T0, demo_plant, feed


def call(url: str, method: str = "GET", body: dict | None = None, **kw: object) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    for k, v in kw.pop("headers", {}).items():  # type: ignore[union-attr]
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=10, **kw) as r:  # type: ignore[arg-type]
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_serves_on_loopback_and_acknowledges_over_http(tmp_path: Path) -> None:
    engine = AlarmEngine(demo_plant(), tmp_path / "alarms.sqlite")
    users = UserStore(tmp_path / "users.sqlite")
    users.create_user("olga", "operator pass 1", "operator")
    feed(engine, "P-101", T0, LOW)
    server = ApiServer(create_app(engine, users), ApiConfig(port=0)).start()
    try:
        assert server.url.startswith("http://127.0.0.1:")
        assert call(f"{server.url}/healthz") == (200, {"status": "ok"})
        assert call(f"{server.url}/api/v1/alarms")[0] == 401
        creds = {"username": "olga", "password": "operator pass 1"}
        status, tok = call(f"{server.url}/api/v1/tokens", "POST", creds)
        assert status == 201
        auth = {"Authorization": f"Bearer {tok['token']}"}
        status, doc = call(f"{server.url}/api/v1/alarms/1/acknowledge", "POST", {}, headers=auth)
        assert status == 200 and doc["state"] == "acknowledged"
    finally:
        server.stop()
        users.close()
        engine.close()
    assert AlarmEngine(demo_plant(), tmp_path / "alarms.sqlite").get_alarm(1)["acked"]


def test_non_loopback_bind_without_tls_is_refused() -> None:
    with pytest.raises(InsecureBindError, match="tls_cert"):
        check_bind(ApiConfig(host="0.0.0.0"))
    with pytest.raises(InsecureBindError):
        check_bind(ApiConfig(host="192.168.1.20"))
    assert check_bind(ApiConfig(host="127.0.0.1")) is None
    assert check_bind(ApiConfig(host="::1")) is None
    with pytest.raises(ValueError, match="go together"):
        ApiConfig(tls_cert="cert.pem")


def test_https_with_configured_certificate(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    engine = AlarmEngine(demo_plant(), None)
    users = UserStore(tmp_path / "users.sqlite")
    settings = ApiConfig(port=0, tls_cert=str(cert), tls_key=str(key))
    server = ApiServer(create_app(engine, users), settings).start()
    try:
        assert server.url.startswith("https://")
        context = ssl.create_default_context(cafile=str(cert))
        assert call(f"{server.url}/healthz", context=context) == (200, {"status": "ok"})
    finally:
        server.stop()
        users.close()
