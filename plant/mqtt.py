"""MQTT client plumbing shared by every service: broker URLs, client construction, availability.

paho-mqtt callbacks run on its network thread: keep ``on_message`` short and hand work to a queue.
"""

from __future__ import annotations

import dataclasses
import logging
import ssl
import threading
import uuid
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from plant import topics
from plant.mqtt_read import ChunkedReadClient

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class BrokerUrl:
    """``mqtt[s]://[user@]host:port``; the password never travels in the URL or the config."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None

    @classmethod
    def parse(cls, url: str) -> BrokerUrl:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts"):
            raise ValueError(f"broker URL {url!r}: scheme must be mqtt or mqtts")
        if parts.password:
            raise ValueError(
                f"broker URL {url!r} holds a password; pass it in PLANTWATCH_MQTT_PASSWORD"
            )
        if not parts.hostname:
            raise ValueError(f"broker URL {url!r} has no host")
        tls = parts.scheme == "mqtts"
        return cls(parts.hostname, parts.port or (8883 if tls else 1883), tls, parts.username)

    def __str__(self) -> str:
        user = f"{self.username}@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}"


def make_client(
    broker: BrokerUrl,
    *,
    client_id: str | None = None,
    password: str | None = None,
    v5: bool = True,
    clean_start: bool = True,
    availability_component: str | None = None,
    max_inflight: int = 1000,
    manual_ack: bool = False,
    chunked_read: bool = False,
) -> mqtt.Client:
    """A configured (not yet connected) paho client.

    ``chunked_read``: a :class:`plant.mqtt_read.ChunkedReadClient`, whose socket reads serve
    many packets each (for a process whose other threads keep the GIL busy: serve).

    With ``availability_component``, a retained ``online``/``offline`` state is kept on the
    availability topic, with an MQTT last will for an unclean exit.
    """
    client_id = client_id or f"plantwatch-{uuid.uuid4().hex[:12]}"
    protocol = mqtt.MQTTv5 if v5 else mqtt.MQTTv311
    kwargs: dict = {
        "callback_api_version": CallbackAPIVersion.VERSION2,
        "client_id": client_id,
        "protocol": protocol,
        "manual_ack": manual_ack,
    }
    if not v5:
        kwargs["clean_session"] = clean_start
    client = ChunkedReadClient(**kwargs) if chunked_read else mqtt.Client(**kwargs)
    client.max_inflight_messages_set(max_inflight)
    client.max_queued_messages_set(0)
    if broker.username:
        client.username_pw_set(broker.username, password)
    if broker.tls:
        client.tls_set(cert_reqs=ssl.CERT_REQUIRED)
    if availability_component:
        topic = topics.availability_topic(availability_component)
        client.will_set(topic, b"offline", qos=1, retain=True)

        def _online(c: mqtt.Client, _u: object, _f: object, rc: object, _p: object = None) -> None:
            if not getattr(rc, "is_failure", False):
                c.publish(topic, b"online", qos=1, retain=True)

        client.on_connect = _online
    return client


def connect(
    client: mqtt.Client,
    broker: BrokerUrl,
    *,
    clean_start: bool = True,
    session_expiry_s: int = 0,
    keepalive: int = 30,
    timeout_s: float = 10.0,
    receive_maximum: int | None = None,
) -> None:
    """Connect and start the network loop; raise ConnectionError if not connected in time."""
    connected = threading.Event()
    previous = client.on_connect

    def _on_connect(c: mqtt.Client, u: object, f: object, rc: object, p: object = None) -> None:
        if previous is not None:
            previous(c, u, f, rc, p)
        if not getattr(rc, "is_failure", False):
            connected.set()

    client.on_connect = _on_connect
    props = None
    if client.protocol == mqtt.MQTTv5:
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        props = Properties(PacketTypes.CONNECT)
        if session_expiry_s:
            props.SessionExpiryInterval = session_expiry_s
        if receive_maximum:  # unacked QoS 1/2 messages the broker may send us at once
            props.ReceiveMaximum = receive_maximum
        client.connect(
            broker.host, broker.port, keepalive, clean_start=clean_start, properties=props
        )
    else:
        client.connect(broker.host, broker.port, keepalive)
    client.loop_start()
    if not connected.wait(timeout_s):
        client.loop_stop()
        raise ConnectionError(f"could not connect to {broker} within {timeout_s} s")
    log.info("connected to %s as %s", broker, client._client_id.decode())
