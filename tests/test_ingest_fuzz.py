"""Fuzz: malformed payloads and topics never crash ingest and each one is a dead letter with a
reason. The bulk (>= 10,000 messages) drives the durable write path in-process; a smaller
batch goes through a real Mosquitto and the running service."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

from ingest.batch import BatchWriter
from ingest.consumer import Message
from ingest.service import IngestService
from ingest.validate import REASONS
from plant import codec, topics
from plant.readings import Header, Modality, ThermalReading
from tests.ingest_helpers import dead_letters, plant_config, readings, wait_for

PLANT = plant_config()
ASSET = PLANT.resolved_assets[0]
THERMAL_TOPIC = topics.reading_topic(ASSET.site, ASSET.area, ASSET.id, "temp", Modality.THERMAL)
VIB_TOPIC = topics.reading_topic(ASSET.site, ASSET.area, ASSET.id, "vib-de", Modality.VIBRATION)
GOOD = {t: p for t, p, _ in readings(PLANT, 1, vibration_every=1)}
LIMIT_BYTES = 200_000
PLANT_SMALL = PLANT.model_copy(
    update={"ingest": PLANT.ingest.model_copy(update={"max_payload_bytes": LIMIT_BYTES})}
)


def _thermal_doc() -> dict:
    h = Header(ASSET.id, "temp", time.time_ns(), 1, 1)
    return json.loads(codec.encode(ThermalReading(h, {"bearing_de": 40.0})))


BAD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=2),
    st.just(2**70),
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: x < -60 or x > 400),
)


@st.composite
def broken_json(draw) -> tuple[str, bytes]:
    """A valid thermal document with one field removed or given a bad value."""
    doc = _thermal_doc()
    key = draw(st.sampled_from([*doc, "values.bearing_de"]))
    if key == "values.bearing_de":
        value = draw(st.one_of(BAD_VALUES, st.sampled_from(["NaN", "Infinity"])))
        doc["values"]["bearing_de"] = value
        raw = json.dumps(doc).replace('"NaN"', "NaN").replace('"Infinity"', "Infinity")
        return THERMAL_TOPIC, raw.encode()
    if draw(st.booleans()):
        del doc[key]
    elif key == "ts_ns":
        doc[key] = draw(st.sampled_from([0, 2**62, time.time_ns() + 10**13, "soon"]))
    else:
        bad = st.one_of(BAD_VALUES, st.just(-1)) if key in ("epoch", "seq") else BAD_VALUES
        doc[key] = draw(bad.filter(lambda v: v != doc[key]))
    return THERMAL_TOPIC, json.dumps(doc).encode()


@st.composite
def broken_frame(draw) -> tuple[str, bytes]:
    """A vibration frame truncated, bit-flipped in its header, or padded beyond the limit."""
    payload = bytearray(GOOD[VIB_TOPIC])
    how = draw(st.sampled_from(["truncate", "flip", "oversize", "garbage_header"]))
    if how == "truncate":
        return VIB_TOPIC, bytes(payload[: draw(st.integers(0, len(payload) - 1))])
    if how == "oversize":
        return VIB_TOPIC, bytes(payload) + b"\0" * LIMIT_BYTES
    if how == "garbage_header":
        return VIB_TOPIC, b"PWB\x01" + draw(st.binary(min_size=4, max_size=64))
    at = draw(st.integers(0, 7))  # magic, version or header length: never still valid
    payload[at] ^= 1 << draw(st.integers(0, 7))
    return VIB_TOPIC, bytes(payload)


LEVEL = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="/+#\0"), max_size=12
)
TOPICS = st.one_of(
    st.text(max_size=80),
    st.lists(LEVEL, min_size=1, max_size=10).map("/".join),
    st.builds(
        lambda a, s, m: f"plantwatch/v1/readings/{ASSET.site}/{ASSET.area}/{a}/{s}/{m}",
        LEVEL,
        LEVEL,
        st.sampled_from([*Modality, "sound", ""]),
    ),
)
MALFORMED = st.one_of(
    broken_json(),
    broken_frame(),
    st.tuples(st.sampled_from([THERMAL_TOPIC, VIB_TOPIC]), st.binary(max_size=300)),
    st.tuples(TOPICS, st.sampled_from(list(GOOD.values()))),
)


@pytest.fixture(scope="module")
def writer(tmp_path_factory: pytest.TempPathFactory):
    w = BatchWriter(PLANT_SMALL, tmp_path_factory.mktemp("fuzz") / "store", "fuzz")
    yield w
    w.close()


@settings(
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(MALFORMED, min_size=20, max_size=20))
def test_ten_thousand_malformed_messages_each_dead_lettered_with_a_reason(writer, batch):
    before = sum(writer.metrics.dead_letters.values())
    stored_before = writer.metrics.stored
    now = time.time_ns()
    writer.write([Message(t, p, now, i, 1, 1) for i, (t, p) in enumerate(batch)])
    assert writer.metrics.stored == stored_before, "a malformed message was stored"
    assert sum(writer.metrics.dead_letters.values()) - before == len(batch)
    assert set(writer.metrics.dead_letters) <= REASONS


def test_fuzzed_dead_letters_are_durable_with_bytes_topic_and_reason(writer):
    letters = list(writer.dead.pending())
    assert len(letters) >= 10_000
    assert all(d.reason in REASONS and d.detail for d in letters)
    assert "internal_error" not in writer.metrics.dead_letters
    for d in letters[:200]:
        assert d.arrival_ns > 0 and d.topic is not None and isinstance(d.payload, bytes)


@settings(max_examples=1, deadline=None, suppress_health_check=list(HealthCheck))
@given(batch=st.lists(MALFORMED, min_size=300, max_size=300))
def test_malformed_messages_over_a_real_broker_are_dead_lettered(mosquitto, tmp_path, batch):
    import paho.mqtt.client as mqtt

    from plant.mqtt import BrokerUrl, connect, make_client

    store = tmp_path / f"store-{time.monotonic_ns()}"
    svc = IngestService(PLANT_SMALL, store, broker=mosquitto.url, worker="fz")
    stop = threading.Event()
    thread = threading.Thread(target=svc.run, args=(stop,))
    thread.start()
    try:
        assert wait_for(svc.consumer.subscribed.is_set, 10)
        pub = make_client(BrokerUrl.parse(mosquitto.url), client_id="fuzz-pub")
        connect(pub, BrokerUrl.parse(mosquitto.url))
        # Topics MQTT itself forbids in a PUBLISH (wildcards, empty, non-UTF-8) never reach us.
        sendable = [(t, p) for t, p in batch if _mqtt_publishable(t)]
        infos = [pub.publish(t, p, qos=1) for t, p in sendable]
        for info in infos:
            info.wait_for_publish(10)
        pub.disconnect()
        pub.loop_stop()
        assert wait_for(lambda: sum(svc.metrics.dead_letters.values()) >= len(sendable), 30)
        assert svc.metrics.stored == 0
        assert isinstance(mqtt.MQTTv5, int)
    finally:
        stop.set()
        thread.join(30)
    letters = dead_letters(Path(store))
    assert len(letters) == len(sendable)
    assert all(d.reason in REASONS for d in letters)


def _mqtt_publishable(topic: str) -> bool:
    return bool(topic) and not any(c in topic for c in "+#\0") and len(topic.encode()) < 60_000
