"""MQTT channel: an asset's alarm state, retained on plantwatch/v1/alarms/<site>/<area>/<asset>.

The payload is the asset's open alarms plus the change that caused the publish, so a client that
subscribes late (retained message) sees the current state, and a live one sees every change.
"""

from __future__ import annotations

import json
import logging

import paho.mqtt.client as mqtt

from plant import WIRE_VERSION, topics
from plant.alarms.notify.message import Notification

log = logging.getLogger(__name__)


class MqttChannel:
    name = "mqtt"

    def __init__(self, client: mqtt.Client, qos: int = 1, timeout_s: float = 10.0) -> None:
        self.client = client  # connected, with its network loop running (plant.mqtt.connect)
        self.qos = qos
        self.timeout_s = timeout_s

    @staticmethod
    def payload(note: Notification) -> bytes:
        doc = {
            "v": WIRE_VERSION,
            "site": note.site,
            "area": note.alarm["area"],
            "asset": note.alarm["asset"],
            "alarms": list(note.asset_alarms),
            "change": note.to_doc(),
        }
        return json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()

    def send(self, note: Notification) -> None:
        topic = topics.alarm_topic(note.site, note.alarm["area"], note.alarm["asset"])
        info = self.client.publish(topic, self.payload(note), qos=self.qos, retain=True)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise ConnectionError(f"publish to {topic} failed: {mqtt.error_string(info.rc)}")
        info.wait_for_publish(self.timeout_s)
        if not info.is_published():
            raise TimeoutError(f"publish to {topic} not acknowledged in {self.timeout_s} s")
