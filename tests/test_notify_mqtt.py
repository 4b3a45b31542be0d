"""MQTT notifications through a real Mosquitto: the asset's alarm state, retained."""

from __future__ import annotations

import json
import queue

import paho.mqtt.client as mqtt

from plant import topics
from plant.alarms import AlarmEngine
from plant.alarms.notify import Dispatcher, MqttChannel, RouteWorker, build_dispatcher
from plant.config.alarms import RouteConfig
from plant.mqtt import BrokerUrl, connect, make_client
from tests.alarm_helpers import HIGH, LOW, T0, Clock, demo_plant, feed
from tests.fixtures.brokers import MosquittoProcess


def subscribe(url: str, topic_filter: str) -> tuple[mqtt.Client, queue.Queue]:
    got: queue.Queue = queue.Queue()
    client = make_client(BrokerUrl.parse(url))
    client.on_message = lambda c, u, m: got.put((m.topic, m.retain, json.loads(m.payload)))
    connect(client, BrokerUrl.parse(url))
    client.subscribe(topic_filter, qos=1)
    return client, got


def test_alarm_state_is_retained_on_the_asset_alarm_topic(mosquitto: MosquittoProcess) -> None:
    broker = BrokerUrl.parse(mosquitto.url)
    publisher = make_client(broker)
    connect(publisher, broker)
    worker = RouteWorker(MqttChannel(publisher), RouteConfig(channel="mqtt"), all_events=True)
    engine = AlarmEngine(demo_plant(), None, clock=Clock(), notifier=Dispatcher([worker]))
    try:
        t = feed(engine, "P-101", T0, LOW, explanation={"vibration": 0.8})
        engine.acknowledge(1, "olga")
        feed(engine, "P-101", t, HIGH)
        assert worker.wait_sent(3, 10)
        # A late subscriber gets the retained state: acknowledged and cleared -> normal.
        late, got = subscribe(mosquitto.url, "plantwatch/v1/alarms/#")
        topic, retained, doc = got.get(timeout=10)
        assert topic == topics.alarm_topic("demo", "pumphouse", "P-101") and retained
        assert doc["asset"] == "P-101" and doc["alarms"][0]["state"] == "normal"
        assert doc["change"]["event"] == "cleared"
        assert doc["change"]["link"] == "http://127.0.0.1:8050/alarm/1"
        # A live subscriber sees each change as it happens.
        feed(engine, "P-102", T0, LOW)
        topic, retained, doc = got.get(timeout=10)
        assert topic.endswith("/pumphouse/P-102") and not retained
        assert doc["change"]["event"] == "raised" and doc["alarms"][0]["priority"] == "low"
        late.loop_stop()
        late.disconnect()
    finally:
        worker.stop()
        publisher.loop_stop()
        publisher.disconnect()


def test_build_dispatcher_from_config_publishes_on_mqtt(mosquitto: MosquittoProcess) -> None:
    broker = BrokerUrl.parse(mosquitto.url)
    publisher = make_client(broker)
    connect(publisher, broker)
    config = demo_plant()
    dispatcher = build_dispatcher(config.alarms, mqtt_client=publisher, env={})
    sub, got = subscribe(mosquitto.url, topics.alarm_topic("demo", "system", "scorer"))
    try:
        engine = AlarmEngine(config, None, notifier=dispatcher)
        engine.on_silence("scorer", True)
        _, _, doc = got.get(timeout=10)
        assert doc["alarms"][0]["kind"] == "silent_chain"
    finally:
        dispatcher.stop()
        for c in (publisher, sub):
            c.loop_stop()
            c.disconnect()
