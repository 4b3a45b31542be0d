"""ChunkedReadClient (plant/mqtt_read.py): paho's packets, in order, from chunked socket reads."""

from __future__ import annotations

import socket

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from plant import mqtt_read
from plant.mqtt_read import ChunkedReadClient


def _publish_packet(topic: str, payload: bytes) -> bytes:
    """A QoS 0 MQTT 3.1.1 PUBLISH packet."""
    body = len(topic).to_bytes(2, "big") + topic.encode() + payload
    n, length = len(body), bytearray()
    while True:
        byte, n = n % 128, n // 128
        length.append(byte | (128 if n else 0))
        if not n:
            break
    return bytes([0x30]) + bytes(length) + body


def _stream() -> tuple[bytes, list[tuple[str, bytes]]]:
    sizes = [0, 1, 5, 127, 128, 300, 16_383, 16_384, 70_000]
    msgs = [(f"r/{i}", bytes([i % 251]) * n) for i, n in enumerate(sizes * 3)]
    return b"".join(_publish_packet(t, p) for t, p in msgs), msgs


def _receive(client: mqtt.Client, data: bytes, cuts: list[int]) -> list[tuple[str, bytes]]:
    """Feed ``data`` to the client's socket in pieces ending at ``cuts`` (and at most 32 KiB,
    so the socket never fills), reading after each."""
    got: list[tuple[str, bytes]] = []
    client.on_message = lambda _c, _u, m: got.append((m.topic, m.payload))
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    client._sock = ours  # the packet reader only needs a readable socket
    try:
        start = 0
        ends = sorted({*cuts, *range(32_768, len(data), 32_768), len(data)})
        for end in ends:
            theirs.sendall(data[start:end])
            start = end
            for _ in range(50):  # a piece larger than one read takes several
                assert client.loop_read() == mqtt.MQTT_ERR_SUCCESS
    finally:
        client._sock = None
        ours.close()
        theirs.close()
    return got


def _client(cls: type[mqtt.Client]) -> mqtt.Client:
    return cls(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)


def test_chunked_reads_give_paho_s_messages_in_order() -> None:
    data, msgs = _stream()
    assert _receive(_client(mqtt.Client), data, []) == msgs  # the reference: paho's own reader
    assert _receive(_client(ChunkedReadClient), data, []) == msgs


@pytest.mark.parametrize("step", [1, 2, 3, 7, 1000, 65_537])
def test_a_stream_cut_anywhere_gives_the_same_messages(
    step: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mqtt_read, "READ_SIZE", 4096)  # packets straddle many reads
    data, msgs = _stream()
    cuts = list(range(step, len(data), step))[:3000]
    assert _receive(_client(ChunkedReadClient), data, cuts) == msgs


def test_a_burst_is_read_with_one_socket_read() -> None:
    data = b"".join(_publish_packet(f"r/{i}", b"x" * 40) for i in range(500))
    client = _client(ChunkedReadClient)
    reads = 0
    real = ChunkedReadClient._recv_into

    def counted(self: ChunkedReadClient) -> int:
        nonlocal reads
        reads += 1
        return real(self)

    client._recv_into = counted.__get__(client)  # type: ignore[method-assign]
    got: list[str] = []
    client.on_message = lambda _c, _u, m: got.append(m.topic)
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    theirs.sendall(data)
    client._sock = ours
    try:
        assert client.loop_read() == mqtt.MQTT_ERR_SUCCESS  # one call drains the buffer
    finally:
        client._sock = None
        ours.close()
        theirs.close()
    assert len(got) == 500
    assert reads <= 2  # the burst, then the read that finds the socket empty
