"""The alarm half of issue 5's acceptance, configured from TOML routes, with real servers.

A faulty asset's health events (as the scorer sends them) raise one alarm; the webhook receiver
and the SMTP server get it, the retained MQTT state shows it, the journal has it, acknowledging
it through the HTTP API changes its state, and healthy assets raise none.
"""

from __future__ import annotations

import json
import queue
import sqlite3
import time
import urllib.request
from pathlib import Path

import numpy as np
from aiosmtpd.controller import Controller

from plant import topics
from plant.alarms.service import AlarmService
from plant.config import PlantConfig
from plant.mqtt import BrokerUrl, connect, make_client
from tests.alarm_helpers import demo_plant, health
from tests.fixtures.brokers import MosquittoProcess, free_port
from tests.test_notify_email import Inbox
from tests.test_notify_webhook import Receiver, verify

S = 1_000_000_000


def configured(tmp_path: Path, hook_url: str, smtp_port: int) -> PlantConfig:
    raw = demo_plant().model_dump(mode="json")
    raw["alarms"].update(
        journal_path=str(tmp_path / "alarms.sqlite"),
        users_path=str(tmp_path / "users.sqlite"),
        routes=[
            {"channel": "mqtt"},
            {"channel": "webhook", "url": hook_url, "secret_env": "HOOK_SECRET",
             "backoff_s": 0.1},
            {"channel": "email", "smtp_port": smtp_port, "recipients": ["planner@x.example"]},
        ],
    )  # fmt: skip
    raw["alarms"]["api"]["port"] = 0
    return PlantConfig.model_validate(raw)


def http(url: str, body: dict | None = None, token: str | None = None) -> dict:
    req = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode())
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def test_fault_alarm_reaches_every_channel_and_is_acknowledged_via_api(
    tmp_path: Path, mosquitto: MosquittoProcess
) -> None:
    hook, inbox, smtp_port = Receiver(), Inbox(), free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    broker = BrokerUrl.parse(mosquitto.url)
    client = make_client(broker)
    connect(client, broker)
    env = {"HOOK_SECRET": "shared webhook secret", "PLANTWATCH_ADMIN_PASSWORD": "admin pw 12345"}
    config = configured(tmp_path, hook.url, smtp_port)
    service = AlarmService(config, mqtt_client=client, env=env).start()
    try:
        rng = np.random.default_rng(2)
        now = time.time_ns() - 6 * 3600 * S
        for step in range(72):  # six hours of 5-minute scores for every asset
            ts = now + step * 300 * S
            for asset in config.resolved_assets:
                faulty = asset.id == "G-201" and step >= 40
                p = 1e-4 if faulty else float(rng.uniform(0, 1))
                service.engine.on_health(health(asset.id, ts, p, fault="gear_tooth"))
        alarms = service.engine.list_alarms()
        assert [(a["asset"], a["source"]) for a in alarms] == [("G-201", "gear_tooth")]
        webhook, email = service.dispatcher.workers[1], service.dispatcher.workers[2]
        assert webhook.wait_sent(1, 15) and email.wait_sent(1, 15)
        assert verify(hook.posts[-1]) and b"G-201" in hook.posts[-1]["body"]
        assert "G-201" in inbox.messages[0]["Subject"]
        assert f"/alarm/{alarms[0]['id']}" in inbox.messages[0].get_content()

        url = service.server.url  # type: ignore[union-attr]
        token = http(f"{url}/api/v1/tokens", {"username": "admin", "password": "admin pw 12345"})
        ack = http(f"{url}/api/v1/alarms/1/acknowledge", {"comment": "planner informed"},
                   token["token"])  # fmt: skip
        assert ack["state"] == "acknowledged"

        got: queue.Queue = queue.Queue()
        sub = make_client(broker)
        sub.on_message = lambda c, u, m: got.put(json.loads(m.payload))
        connect(sub, broker)
        sub.subscribe(topics.alarm_topic("demo", "pumphouse", "G-201"), qos=1)
        deadline = time.monotonic() + 10
        state = None
        while state != "acknowledged" and time.monotonic() < deadline:
            state = got.get(timeout=10)["alarms"][0]["state"]
        assert state == "acknowledged"
        sub.loop_stop()
        sub.disconnect()
    finally:
        service.stop()
        client.loop_stop()
        client.disconnect()
        smtp.stop()
        hook.stop()
    with sqlite3.connect(tmp_path / "alarms.sqlite") as db:
        rows = db.execute("SELECT action, who FROM journal WHERE alarm_id = 1 ORDER BY seq")
        assert list(rows) == [("raise", "engine"), ("acknowledge", "admin")]
