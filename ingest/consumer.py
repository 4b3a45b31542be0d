"""The MQTT side of ingest: a persistent QoS 1 session whose messages are acknowledged by hand.

``on_message`` runs on paho's network thread and only stamps the arrival time and enqueues.
The worker acknowledges a message (``ack``) only once it is durable. Unacknowledged messages are
what gives back-pressure: the broker sends at most ``receive_maximum`` of them, then holds the
rest in our session queue, so a slow or full store throttles the broker instead of losing data.

After a reconnect, packet ids of the old connection mean nothing: messages received before it
are still written (the broker redelivers them and dedup recognises the copy) but never
acknowledged on the new connection, where the same id may name another message.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import queue
import struct
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt import _packet
from paho.mqtt.enums import MQTTProtocolVersion
from paho.mqtt.exception import MalformedPacket
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties, VariableByteIntegers

from plant import mqtt as pmqtt
from plant import topics

log = logging.getLogger(__name__)

_U16 = struct.Struct("!H")
_NO_PROPERTIES = Properties(PacketTypes.PUBLISH)  # building one costs ~35 us (its tables)


@_packet.convert_exception
def decode_publish(
    header: int, packet: bytes | bytearray, protocol: MQTTProtocolVersion
) -> _packet.PublishPacket:
    """paho-mqtt's ``_packet.decode_publish`` without its copies of the payload.

    paho 2.2 slices the whole remaining packet at each field it takes off the front (topic
    length, topic, packet id, each byte of the properties length, the properties): five to six
    copies of a 154 kB vibration snapshot, all holding the GIL, on the network thread; and it
    builds a new ``Properties`` (~35 us of lookup tables) per message. This reads the fields in
    place, copies the payload once and copies an empty ``Properties``. Same result, same errors
    (MalformedPacket), except that a properties length beyond the packet is MalformedPacket
    (paho half-parses such a packet); ``tests/test_ingest_consumer.py`` checks it against paho's.
    """
    view = memoryview(packet)
    qos = (header & 0x06) >> 1
    (tlen,) = _U16.unpack_from(view, 0)
    pos = 2 + tlen
    if pos > len(view):
        raise MalformedPacket(f"topic of {tlen} bytes exceeds the packet")
    topic = bytes(view[2:pos])
    if protocol != MQTTProtocolVersion.MQTTv5 and not topic:
        raise MalformedPacket("topic can't be empty in MQTTv3")
    mid = 0
    if qos > 0:
        (mid,) = _U16.unpack_from(view, pos)
        pos += 2
    properties = None
    if protocol == MQTTProtocolVersion.MQTTv5:
        length, vbi = VariableByteIntegers.decode(bytes(view[pos : pos + 4]))
        end = pos + vbi + length
        if end > len(view):
            raise MalformedPacket(f"properties of {length} bytes exceed the packet")
        properties = copy.copy(_NO_PROPERTIES)  # its lookup tables are shared, read-only
        if length:
            properties.unpack(bytes(view[pos:end]))
        pos = end
    return _packet.PublishPacket(
        dup=bool(header & 0x08),
        qos=qos,
        retain=bool(header & 0x01),
        topic=topic,
        mid=mid,
        properties=properties,
        payload=bytes(view[pos:]),
    )


PAHO_DECODE_PUBLISH = _packet.decode_publish


def use_fast_publish_decode() -> None:
    """Make paho's clients in this process decode PUBLISH packets with :func:`decode_publish`
    (process-wide: paho looks the function up on its ``_packet`` module per packet)."""
    _packet.decode_publish = decode_publish


@dataclasses.dataclass(frozen=True, slots=True)
class Message:
    topic: str
    payload: bytes
    arrival_ns: int
    mid: int
    qos: int
    generation: int  # connection count at arrival; acks only within the same connection


class Consumer:
    """One ingest worker's MQTT session: subscribe, receive into ``self.inbox``, ``ack``."""

    def __init__(
        self,
        broker: pmqtt.BrokerUrl,
        client_id: str,
        *,
        topic_filter: str,
        password: str | None = None,
        qos: int = 1,
        session_expiry_s: int = 7 * 86_400,
        receive_maximum: int = 1000,
    ) -> None:
        self.broker = broker
        self.topic_filter = topic_filter
        self.qos = qos
        self.session_expiry_s = session_expiry_s
        self.receive_maximum = receive_maximum
        use_fast_publish_decode()
        self.inbox: queue.SimpleQueue[Message] = queue.SimpleQueue()
        self.generation = 0
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self._ack_lock = threading.Lock()
        self.client = pmqtt.make_client(
            broker,
            client_id=client_id,
            password=password,
            clean_start=False,
            availability_component=client_id,
            manual_ack=True,
        )
        # Come back fast after a broker restart: Mosquitto 2.0.11 does not restore shared
        # subscriptions from persistence, so until we subscribe again nobody receives readings.
        self.client.reconnect_delay_set(min_delay=0.1, max_delay=2)
        self._online = self.client.on_connect
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe

    def start(self, timeout_s: float = 10.0) -> None:
        pmqtt.connect(
            self.client,
            self.broker,
            clean_start=False,
            session_expiry_s=self.session_expiry_s,
            timeout_s=timeout_s,
            receive_maximum=self.receive_maximum,
        )
        if not self.subscribed.wait(timeout_s):
            raise ConnectionError(
                f"{self.broker} did not confirm the subscription in {timeout_s} s"
            )

    def stop(self) -> None:
        if self.client.is_connected():
            self.client.publish(topics.availability_topic(self._client_id), b"offline", 1, True)
            self.client.disconnect()
        self.client.loop_stop()

    @property
    def _client_id(self) -> str:
        return self.client._client_id.decode()

    def _on_connect(self, c: mqtt.Client, u: object, flags: object, rc: object, p: object) -> None:
        if getattr(rc, "is_failure", False):
            log.warning("broker refused the connection: %s", rc)
            return
        with self._ack_lock:
            self.generation += 1
        if self._online is not None:
            self._online(c, u, flags, rc, p)
        resumed = getattr(flags, "session_present", False)
        # Subscribing again on a resumed session is harmless and covers a lost session.
        c.subscribe(self.topic_filter, qos=self.qos)
        log.info(
            "connected (generation %d, session %s), subscribed to %s",
            self.generation,
            "resumed" if resumed else "new",
            self.topic_filter,
        )
        self.connected.set()

    def _on_subscribe(self, c: mqtt.Client, u: object, mid: int, codes: list, p: object) -> None:
        failed = [rc for rc in codes if getattr(rc, "is_failure", False)]
        if failed:
            log.error("broker refused the subscription to %s: %s", self.topic_filter, failed)
            return
        self.subscribed.set()

    def _on_disconnect(self, c: mqtt.Client, u: object, f: object, rc: object, p: object) -> None:
        self.connected.clear()
        log.warning("disconnected from %s: %s (paho reconnects by itself)", self.broker, rc)

    def _on_message(self, c: mqtt.Client, u: object, msg: mqtt.MQTTMessage) -> None:
        topic = msg._topic.decode("utf-8", "replace")  # a bad topic is a dead letter, not a crash
        self.inbox.put(
            Message(topic, msg.payload, time.time_ns(), msg.mid, msg.qos, self.generation)
        )

    def ack(self, messages: list[Message]) -> int:
        """Acknowledge ``messages`` in arrival order; skip those of an earlier connection."""
        sent = 0
        with self._ack_lock:
            gen = self.generation
            for m in messages:
                if m.qos > 0 and m.generation == gen:
                    self.client.ack(m.mid, m.qos)
                    sent += 1
        return sent
