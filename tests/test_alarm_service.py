"""The alarm service as serve hosts it, and the replay evaluate uses (same engine, own clock)."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import numpy as np

from plant.alarms.replay import StateChange, replay
from plant.alarms.service import AlarmService
from plant.config import PlantConfig
from plant.mqtt import BrokerUrl, connect, make_client
from plant.readings import MachineState
from tests.alarm_helpers import LOW, T0, demo_plant, feed, health
from tests.fixtures.brokers import MosquittoProcess

S = 1_000_000_000


def service_plant(tmp_path: Path) -> PlantConfig:
    raw = demo_plant().model_dump(mode="json")
    raw["alarms"].update(
        journal_path=str(tmp_path / "alarms.sqlite"), users_path=str(tmp_path / "users.sqlite")
    )
    raw["alarms"]["api"]["port"] = 0
    return PlantConfig.model_validate(raw)


def test_service_bootstraps_admin_serves_api_and_ticks(
    tmp_path: Path, mosquitto: MosquittoProcess
) -> None:
    broker = BrokerUrl.parse(mosquitto.url)
    client = make_client(broker)
    connect(client, broker)
    config = service_plant(tmp_path)
    service = AlarmService(config, mqtt_client=client, env={}, tick_s=0.05).start()
    try:
        password = service.generated_admin_password
        assert password and service.users.authenticate("admin", password)
        feed(service.engine, "P-101", time.time_ns(), LOW)
        assert service.server is not None
        body = json.dumps({"username": "admin", "password": password}).encode()
        req = urllib.request.Request(f"{service.server.url}/api/v1/tokens", data=body)
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=10) as r:
            tok = json.loads(r.read())["token"]
        req = urllib.request.Request(f"{service.server.url}/api/v1/alarms")
        req.add_header("Authorization", f"Bearer {tok}")
        with urllib.request.urlopen(req, timeout=10) as r:
            assert [a["asset"] for a in json.loads(r.read())["alarms"]] == ["P-101"]
        service.engine.shelve(1, 0.2, "admin")
        deadline = time.monotonic() + 10  # the tick thread expires the shelf
        while service.engine.get_alarm(1)["state"] == "shelved" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert service.engine.get_alarm(1)["state"] == "unacknowledged"
    finally:
        service.stop()
        client.loop_stop()
        client.disconnect()
    # A second start finds the admin: no new password, and the alarm is still there.
    again = AlarmService(config, mqtt_client=None, env={}, serve_api=False)
    assert again.generated_admin_password is None
    assert again.engine.get_alarm(1)["asset"] == "P-101"
    again.stop()


def test_admin_password_from_environment(tmp_path: Path) -> None:
    env = {"PLANTWATCH_ADMIN_PASSWORD": "from env 12345"}
    service = AlarmService(service_plant(tmp_path), mqtt_client=None, env=env, serve_api=False)
    assert service.generated_admin_password is None
    assert service.users.authenticate("admin", "from env 12345") is not None
    service.stop()


def normal_week(config: PlantConfig, seed: int, interval_s: float) -> list:
    """Calibrated p-values of healthy machines (uniform), one per asset per interval."""
    rng = np.random.default_rng(seed)
    assets = [a.id for a in config.resolved_assets]
    steps = int(7 * 86_400 / interval_s)
    p = rng.uniform(0, 1, (steps, len(assets)))
    return [
        health(asset, T0 + int(i * interval_s * S), float(p[i, j]))
        for i in range(steps)
        for j, asset in enumerate(assets)
    ]


def test_replay_of_a_normal_week_raises_almost_nothing_and_no_flood() -> None:
    config = demo_plant()
    result = replay(config, normal_week(config, 11, 300.0))
    assert result.events == 6 * 2016 and round(result.asset_days) == 42
    assert result.floods == 0
    assert result.machine_alarms_per_asset_day <= 0.1  # expected ~0.003 (docs/ALARMS.md)


def test_replay_of_a_fault_raises_and_a_stopped_machine_raises_nothing() -> None:
    config = demo_plant()
    fault = [health("P-101", T0 + i * 300 * S, 1e-4) for i in range(10)]
    stopped = [StateChange("P-102", MachineState.STOPPED, T0 - S)]
    stopped += [health("P-102", T0 + i * 300 * S + 1, 1e-4) for i in range(10)]
    events = sorted(fault + stopped, key=lambda e: e.ts_ns)
    result = replay(config, events)
    assert [(r.asset, r.source, r.ts_ns) for r in result.machine()] == [
        ("P-101", "bearing_outer", T0 + 600 * S)
    ]


def test_watched_component_going_offline_raises_a_chain_alarm(
    tmp_path: Path, mosquitto: MosquittoProcess
) -> None:
    raw = service_plant(tmp_path).model_dump(mode="json")
    raw["alarms"]["watch_components"] = ["scorer-2"]
    config = PlantConfig.model_validate(raw)
    broker = BrokerUrl.parse(mosquitto.url)
    host = make_client(broker)
    connect(host, broker)
    service = AlarmService(config, mqtt_client=host, env={}, serve_api=False).start()
    # A separate scorer process announces itself, then dies without a clean disconnect.
    scorer = make_client(broker, availability_component="scorer-2")
    connect(scorer, broker)
    try:
        time.sleep(0.3)
        assert service.engine.list_alarms() == []  # online: no alarm
        scorer.loop_stop()
        scorer.socket().close()  # unclean: the broker publishes the last will (offline)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not service.engine.list_alarms():
            time.sleep(0.05)
        (alarm,) = service.engine.list_alarms()
        assert (alarm["kind"], alarm["asset"], alarm["area"]) == (
            "silent_chain",
            "scorer-2",
            "system",
        )
        back = make_client(broker, availability_component="scorer-2")
        connect(back, broker)  # online again
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and service.engine.get_alarm(alarm["id"])["active"]:
            time.sleep(0.05)
        assert service.engine.get_alarm(alarm["id"])["state"] == "rtn_unacknowledged"
        back.loop_stop()
        back.disconnect()
    finally:
        service.stop()
        host.loop_stop()
        host.disconnect()
