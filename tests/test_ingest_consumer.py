"""ingest.consumer.decode_publish: the same PublishPacket (or MalformedPacket) as paho's own."""

from __future__ import annotations

import struct

import pytest
from paho.mqtt.enums import MQTTProtocolVersion
from paho.mqtt.exception import MalformedPacket
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ingest.consumer import PAHO_DECODE_PUBLISH, decode_publish

V5, V311 = MQTTProtocolVersion.MQTTv5, MQTTProtocolVersion.MQTTv311
TOPIC = b"plantwatch/v1/readings/bench/area-a/PA-001/vib-de/vibration"


def _props(**values: object) -> bytes:
    p = Properties(PacketTypes.PUBLISH)
    for k, v in values.items():
        setattr(p, k, v)
    return p.pack()


def _packet(topic: bytes, payload: bytes, *, mid: int | None, props: bytes | None) -> bytearray:
    out = struct.pack("!H", len(topic)) + topic
    if mid is not None:
        out += struct.pack("!H", mid)
    return bytearray(out + (props if props is not None else b"") + payload)


def _same(
    header: int, packet: bytearray, protocol: MQTTProtocolVersion, *, props_cut: bool = False
) -> None:
    """Both raise MalformedPacket or both give the same packet. ``props_cut``: the packet ends
    inside its properties, which paho may half-parse and accept; ours must reject it."""
    try:
        want = PAHO_DECODE_PUBLISH(header, packet, protocol)
    except MalformedPacket:
        with pytest.raises(MalformedPacket):
            decode_publish(header, packet, protocol)
        return
    if props_cut:
        with pytest.raises(MalformedPacket, match="exceed the packet"):
            decode_publish(header, packet, protocol)
        return
    got = decode_publish(header, packet, protocol)
    for field in ("dup", "qos", "retain", "topic", "mid", "payload"):
        assert getattr(got, field) == getattr(want, field), field
        assert type(getattr(got, field)) is type(getattr(want, field)), field
    if want.properties is None:
        assert got.properties is None
    else:
        assert got.properties.json() == want.properties.json()
        assert got.properties is not decode_publish(header, packet, protocol).properties


@pytest.mark.parametrize("payload", [b"", b"{}", bytes(range(256)) * 700])
@pytest.mark.parametrize(
    "props",
    [
        _props(),
        _props(SubscriptionIdentifier=[7]),
        _props(UserProperty=[("a", "b"), ("c", "d")], ContentType="application/octet-stream"),
        _props(PayloadFormatIndicator=1, MessageExpiryInterval=60, ResponseTopic="r/t"),
    ],
)
@pytest.mark.parametrize("header", [0x30, 0x32, 0x3B])  # QoS 0; QoS 1; dup + QoS 1 + retain
def test_same_packet_as_paho_mqtt5(header: int, props: bytes, payload: bytes) -> None:
    mid = 4242 if header & 0x06 else None
    _same(header, _packet(TOPIC, payload, mid=mid, props=props), V5)


@pytest.mark.parametrize("header", [0x30, 0x32])
def test_same_packet_as_paho_mqtt311(header: int) -> None:
    mid = 9 if header & 0x06 else None
    _same(header, _packet(TOPIC, b"x" * 1000, mid=mid, props=None), V311)
    _same(header, _packet(b"", b"x", mid=mid, props=None), V311)  # empty topic: malformed


def test_malformed_packets_are_malformed_for_both() -> None:
    props = _props(UserProperty=[("k", "v")])
    good = _packet(TOPIC, b"payload", mid=1, props=props)
    props_at = 2 + len(TOPIC) + 2
    for cut in range(len(good)):  # every truncation
        _same(0x32, good[:cut], V5, props_cut=props_at < cut < props_at + len(props))
    _same(0x32, bytearray(b"\xff\xff" + TOPIC), V5)  # topic length beyond the packet
    bad_vbi = _packet(TOPIC, b"", mid=1, props=b"\xff\xff\xff\xff\x01")  # a 5-byte length
    _same(0x32, bad_vbi, V5)
