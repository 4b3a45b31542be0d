"""The alarm HTTP API: authentication, roles, validation that changes nothing, OpenAPI."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from plant.alarms import AlarmEngine
from plant.alarms.api import create_app
from plant.users import UserStore
from tests.alarm_helpers import LOW, T0, Clock, demo_plant, feed, health

PASSWORDS = {"olga": "operator pass 1", "erik": "engineer pass 1", "ada": "admin pass 123"}


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[AlarmEngine]:
    e = AlarmEngine(demo_plant(), tmp_path / "alarms.sqlite", clock=Clock())
    yield e
    e.close()


@pytest.fixture(scope="module")
def users(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UserStore]:
    """One user store per module: scrypt is deliberately slow, so users are made once."""
    store = UserStore(tmp_path_factory.mktemp("users") / "users.sqlite")
    store.create_user("olga", PASSWORDS["olga"], "operator")
    store.create_user("erik", PASSWORDS["erik"], "engineer")
    store.create_user("ada", PASSWORDS["ada"], "admin")
    yield store
    store.close()


_TOKENS: dict[str, dict[str, str]] = {}


@pytest.fixture
def client(engine: AlarmEngine, users: UserStore) -> FlaskClient:
    feed(engine, "P-101", T0, LOW)  # alarm 1
    engine.on_health(health("P-102", T0, 0.6))
    return create_app(engine, users).test_client()


def token(client: FlaskClient, user: str) -> dict[str, str]:
    """A bearer header for ``user``, issued through the API once per module."""
    if user not in _TOKENS:
        r = client.post("/api/v1/tokens", json={"username": user, "password": PASSWORDS[user]})
        assert r.status_code == 201, r.json
        _TOKENS[user] = {"Authorization": f"Bearer {r.json['token']}"}
    return _TOKENS[user]


def basic(user: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def snapshot(engine: AlarmEngine) -> tuple[Any, int]:
    return engine.list_alarms(), engine.journal.count_entries()


def concrete(rule: str) -> str:
    return (
        rule.replace("<int:alarm_id>", "1")
        .replace("<asset>", "P-101")
        .replace("<username>", "olga")
    )


def test_healthz_is_the_only_unauthenticated_route(client: FlaskClient) -> None:
    assert client.get("/healthz").json == {"status": "ok"}
    app = client.application
    checked = 0
    for rule in app.url_map.iter_rules():
        if rule.rule in ("/healthz", "/api/v1/tokens"):
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            r = client.open(concrete(rule.rule), method=method, json={})
            assert r.status_code == 401, (method, rule.rule)
            assert "Bearer" in r.headers["WWW-Authenticate"]
            checked += 1
    assert checked >= 17
    assert (
        client.get("/api/v1/alarms", headers={"Authorization": "Bearer pwt_nope"}).status_code
        == 401
    )
    assert client.get("/api/v1/alarms", headers=basic("olga", "wrong")).status_code == 401
    bad = {"Authorization": "Basic !!!"}
    assert client.get("/api/v1/alarms", headers=bad).status_code == 401


def test_token_and_basic_both_authenticate(client: FlaskClient) -> None:
    r = client.post("/api/v1/tokens", json={"username": "olga", "password": "nope"})
    assert r.status_code == 401
    r = client.get("/api/v1/me", headers=token(client, "olga"))
    assert r.json["role"] == "operator" and "acknowledge" in r.json["permissions"]
    r = client.get("/api/v1/alarms", headers=basic("olga", PASSWORDS["olga"]))
    assert r.status_code == 200 and [a["id"] for a in r.json["alarms"]] == [1]


def test_roles_are_enforced(client: FlaskClient) -> None:
    op, eng, adm = token(client, "olga"), token(client, "erik"), token(client, "ada")
    assert client.get("/api/v1/users", headers=op).status_code == 403
    assert client.get("/api/v1/users", headers=eng).status_code == 403
    assert [u["username"] for u in client.get("/api/v1/users", headers=adm).json["users"]] == [
        "ada",
        "erik",
        "olga",
    ]
    new = {"username": "nina", "password": "nina's pass 1", "role": "operator"}
    assert client.post("/api/v1/users", headers=op, json=new).status_code == 403
    assert client.post("/api/v1/users", headers=adm, json=new).status_code == 201
    assert client.post("/api/v1/users", headers=adm, json=new).status_code == 409
    assert client.delete("/api/v1/users/nina", headers=op).status_code == 403
    assert client.delete("/api/v1/users/nina", headers=adm).status_code == 200
    assert client.delete("/api/v1/users/ada", headers=adm).status_code == 400


def test_alarm_lifecycle_through_the_api(client: FlaskClient, engine: AlarmEngine) -> None:
    op = token(client, "olga")
    r = client.post("/api/v1/alarms/1/acknowledge", headers=op, json={"comment": "on my way"})
    assert r.status_code == 200 and r.json["state"] == "acknowledged"
    assert client.post("/api/v1/alarms/1/acknowledge", headers=op).status_code == 409
    r = client.post("/api/v1/alarms/1/shelve", headers=op, json={"duration_s": 600})
    assert r.json["state"] == "shelved"
    assert client.post("/api/v1/alarms/1/unshelve", headers=op, json={}).json["state"] == (
        "acknowledged"
    )
    assert client.post("/api/v1/alarms/1/comment", headers=op, json={"comment": "DE brg hot"})
    body = {"outcome": "confirmed_fault", "fault_class": "bearing_outer", "comment": "spall"}
    assert client.post("/api/v1/alarms/1/out-of-service", headers=op).json["state"] == (
        "out_of_service"
    )
    assert client.post("/api/v1/alarms/1/return-to-service", headers=op).status_code == 200
    r = client.post("/api/v1/alarms/1/close", headers=op, json=body)
    assert r.json["closed"] and r.json["outcome_fault"] == "bearing_outer"
    doc = client.get("/api/v1/alarms/1", headers=op).json
    actions = [e["action"] for e in doc["journal"]]
    assert actions == [
        "raise", "acknowledge", "shelve", "unshelve", "comment", "out_of_service",
        "return_to_service", "close",
    ]  # fmt: skip
    assert all(e["who"] == "olga" for e in doc["journal"][1:])
    assert client.get("/api/v1/alarms?open=false", headers=op).json["alarms"][0]["id"] == 1
    assert client.get("/api/v1/alarms?open=true", headers=op).json["alarms"] == []


def test_maintenance_health_and_counts(client: FlaskClient, engine: AlarmEngine) -> None:
    op = token(client, "olga")
    r = client.post("/api/v1/assets/P-101/maintenance/start", headers=op, json={"comment": "swap"})
    assert r.json["alarms_out_of_service"] == 1
    assert engine.get_alarm(1)["state"] == "out_of_service"
    assert client.post("/api/v1/assets/P-101/maintenance/start", headers=op).status_code == 409
    assert client.post("/api/v1/assets/NOPE/maintenance/start", headers=op).status_code == 404
    assert client.get("/api/v1/alarms/counts", headers=op).json["in_maintenance"] == ["P-101"]
    assert client.post("/api/v1/assets/P-101/maintenance/end", headers=op).status_code == 200
    assert engine.get_alarm(1)["state"] == "normal"
    health_doc = client.get("/api/v1/health", headers=op).json["health"]
    assert sorted(health_doc) == ["P-101", "P-102"]
    assert client.get("/api/v1/health/P-102", headers=op).json["p_value"] == 0.6
    assert client.get("/api/v1/health/C-401", headers=op).status_code == 404


def test_counts_by_priority_and_area(client: FlaskClient, engine: AlarmEngine) -> None:
    feed(engine, "C-401", T0, LOW, health_score=10)
    counts = client.get("/api/v1/alarms/counts", headers=token(client, "olga")).json
    assert counts["total"] == 2
    assert counts["by_priority"] == {"low": 1, "high": 1}
    assert counts["by_area"] == {"pumphouse": 1, "utilities": 1}


BAD_REQUESTS = [
    ("post", "/api/v1/alarms/1/shelve", {"duration_s": -5}, 400),
    ("post", "/api/v1/alarms/1/shelve", {"duration_s": 10**7}, 400),
    ("post", "/api/v1/alarms/1/shelve", {}, 400),
    ("post", "/api/v1/alarms/1/shelve", {"duration_s": 60, "extra": 1}, 400),
    ("post", "/api/v1/alarms/1/shelve", "not json", 400),
    ("post", "/api/v1/alarms/1/acknowledge", [1, 2], 400),
    ("post", "/api/v1/alarms/1/acknowledge", {"comment": "x" * 3000}, 400),
    ("post", "/api/v1/alarms/1/comment", {"comment": ""}, 400),
    ("post", "/api/v1/alarms/1/close", {"outcome": "confirmed_fault"}, 400),
    ("post", "/api/v1/alarms/1/close", {"outcome": "false_alarm", "fault_class": "imbalance"}, 400),
    ("post", "/api/v1/alarms/1/close", {"outcome": "it was fine"}, 400),
    ("post", "/api/v1/alarms/99/acknowledge", {}, 404),
    ("post", "/api/v1/alarms/1/unshelve", {}, 409),
    ("post", "/api/v1/alarms/1/return-to-service", {}, 409),
    ("get", "/api/v1/alarms?state=exploded", None, 400),
    ("get", "/api/v1/alarms?limit=0", None, 400),
    ("get", "/api/v1/alarms?colour=red", None, 400),
    ("get", "/api/v1/alarms/abc", None, 404),
]


@pytest.mark.parametrize(("method", "path", "body", "status"), BAD_REQUESTS)
def test_bad_request_gets_4xx_with_reason_and_changes_nothing(
    client: FlaskClient, engine: AlarmEngine, method: str, path: str, body: Any, status: int
) -> None:
    headers = token(client, "olga")
    before = snapshot(engine)
    if isinstance(body, str):
        r = client.open(path, method=method, headers=headers, data=body)
    else:
        r = client.open(path, method=method, headers=headers, json=body)
    assert r.status_code == status
    assert r.json["error"] and r.json["detail"]
    assert snapshot(engine) == before


def test_openapi_is_valid_json_listing_every_route(client: FlaskClient) -> None:
    r = client.get("/api/v1/openapi.json", headers=token(client, "olga"))
    doc = json.loads(r.data)
    assert doc["openapi"].startswith("3.")
    listed = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    served = set()
    for rule in client.application.url_map.iter_rules():
        path = rule.rule.replace("<int:alarm_id>", "{alarm_id}").replace("<", "{").replace(">", "}")
        served |= {(m, path) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert served == listed
    shelve = doc["paths"]["/api/v1/alarms/{alarm_id}/shelve"]["post"]
    ref = shelve["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert schema["required"] == ["duration_s"] and "400" in shelve["responses"]
    assert doc["paths"]["/healthz"]["get"]["security"] == []


def test_repeated_failed_logins_are_throttled(engine: AlarmEngine, users: UserStore) -> None:
    from plant.users import LoginThrottle

    client = create_app(engine, users, throttle=LoginThrottle(limit=3, window_s=60)).test_client()
    wrong = {"username": "erik", "password": "not the password"}
    assert [client.post("/api/v1/tokens", json=wrong).status_code for _ in range(3)] == [401] * 3
    right = {"username": "erik", "password": PASSWORDS["erik"]}
    r = client.post("/api/v1/tokens", json=right)
    assert r.status_code == 429 and "too many failed logins" in r.json["detail"]
    assert client.get("/api/v1/me", headers=basic("erik", PASSWORDS["erik"])).status_code == 429
    # Other users are not affected.
    assert client.get("/api/v1/me", headers=basic("olga", PASSWORDS["olga"])).status_code == 200
