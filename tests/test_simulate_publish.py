"""The live publisher over real brokers: every message arrives and decodes to what was sent."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from plant import codec, topics
from plant.broker.publish import AvailabilityPublisher
from plant.config import load_config
from plant.mqtt import BrokerUrl
from plant.readings import (
    CameraImage,
    ContextReading,
    Header,
    MachineState,
    OperatorNote,
    Reading,
    ThermalReading,
    VibrationSnapshot,
)
from plant.sim.publisher import PublishStats, TopicMap, paced, publish_readings
from tests.fixtures.brokers import MosquittoProcess

REPO = Path(__file__).resolve().parent.parent
PLANT = load_config(REPO / "configs" / "plant.toml")


class Collector:
    """A subscriber to every reading (and availability), recording (topic, payload) in order."""

    def __init__(
        self,
        url: str,
        *,
        v5: bool,
        client_id: str = "collector",
        clean: bool = True,
        component: str = "simulator",
    ):
        self.broker = BrokerUrl.parse(url)
        self.messages: list[tuple[str, bytes]] = []
        self.availability: list[bytes] = []
        kw = {} if v5 else {"clean_session": clean}
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            **kw,
        )
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_: subscribed.set()
        if v5:
            from paho.mqtt.packettypes import PacketTypes
            from paho.mqtt.properties import Properties

            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 0 if clean else 3600
            self.client.connect(
                self.broker.host, self.broker.port, clean_start=clean, properties=props
            )
        else:
            self.client.connect(self.broker.host, self.broker.port)
        self.client.loop_start()
        self.client.subscribe(
            [(topics.readings_filter(), 1), (topics.availability_topic(component), 1)]
        )
        assert subscribed.wait(10), "subscription not acknowledged"

    def _on_message(self, _c: mqtt.Client, _u: object, m: mqtt.MQTTMessage) -> None:
        if "/availability/" in m.topic:
            self.availability.append(m.payload)
        else:
            self.messages.append((m.topic, m.payload))

    def wait_for(self, n: int, timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.messages) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)  # anything beyond n (a duplicate) would arrive now

    def decoded(self) -> list[Reading]:
        out = []
        for topic, payload in self.messages:
            t = topics.parse_reading_topic(topic)
            out.append(codec.decode(t.asset, t.sensor, t.modality, payload))
        return out

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def sample_readings(n_rounds: int, start_ns: int = 1_790_000_000 * 10**9) -> list[Reading]:
    """Every modality, for every asset of the demo plant, ``n_rounds`` times, 1 s apart."""
    rng = np.random.default_rng(5)
    out: list[Reading] = []
    for k in range(n_rounds):
        for a in PLANT.resolved_assets:
            ts = start_ns + k * 10**9

            def h(sensor: str, _a: str = a.id, _ts: int = ts, _k: int = k) -> Header:
                return Header(_a, sensor, _ts, epoch=3, seq=_k)

            samples = rng.normal(size=(3, 256)).astype(np.float32)
            out.append(VibrationSnapshot(h("vib-de"), 12800.0, ("x", "y", "z"), samples))
            out.append(ThermalReading(h("temp"), {"bearing_de": 40.5 + k, "winding": 61.25}))
            out.append(ContextReading(h("ctx"), 24.5, 0.8, 21.0, MachineState.RUNNING))
            pixels = rng.integers(0, 256, size=(16, 16, 3), dtype=np.uint8)
            out.append(CameraImage(h("cam"), pixels))
            out.append(OperatorNote(h("log"), f"DE brg noisy, round {k} ✓", author="op"))
    return out


def _publish(url: str, readings: list[Reading], window: int = 1000) -> PublishStats:
    stop = threading.Event()
    pub = AvailabilityPublisher(
        BrokerUrl.parse(url), password=None, component="test-sim", qos=1, window=window
    )
    try:
        return publish_readings(readings, pub, TopicMap(PLANT), stop)
    finally:
        assert pub.close(10)


@pytest.mark.parametrize("broker_kind", ["mosquitto", "embedded_broker"])
def test_every_published_reading_decodes_to_what_was_sent(request, broker_kind: str) -> None:
    broker = request.getfixturevalue(broker_kind)
    collector = Collector(broker.url, v5=broker_kind == "mosquitto", component="test-sim")
    sent = sample_readings(4)
    try:
        stats = _publish(broker.url, sent)
        collector.wait_for(len(sent))
    finally:
        collector.close()
    assert stats.total == len(sent)
    assert collector.decoded() == sent  # same order: one connection, QoS 1, no reconnect
    assert collector.availability[-1] == b"offline"
    assert b"online" in collector.availability


def test_topics_carry_site_area_asset_sensor_modality() -> None:
    tm = TopicMap(PLANT)
    r = sample_readings(1)[-1]  # P-103's note: area utilities
    assert tm.topic(r) == "plantwatch/v1/readings/demo/utilities/P-103/log/notes"


def test_window_bounds_unacked_and_nothing_is_lost_across_a_broker_restart(
    tmp_path: Path,
) -> None:
    broker = MosquittoProcess(tmp_path)
    broker.start()
    collector = Collector(broker.url, v5=True, client_id="durable", clean=False)
    notes = [
        OperatorNote(Header("P-101", "log", 10**18 + i, 1, i), f"note {i}") for i in range(3000)
    ]
    pub = AvailabilityPublisher(
        BrokerUrl.parse(broker.url), password=None, component="test-sim", qos=1, window=50
    )
    stop = threading.Event()
    max_unacked = 0
    restart = threading.Timer(1.0, broker.start)

    def watch(readings: list[Reading]):
        nonlocal max_unacked
        for i, r in enumerate(readings):
            max_unacked = max(max_unacked, pub.unacked)
            if i == 1000:  # the broker goes away mid-stream and comes back
                broker.stop()
                restart.start()
            yield r

    try:
        publish_readings(watch(notes), pub, TopicMap(PLANT), stop)
        assert pub.close(30)
        collector.wait_for(len(notes), 30)
    finally:
        collector.close()
        if restart.is_alive():
            restart.join()
        broker.stop()
    assert max_unacked <= 50
    got = {r.header.seq for r in collector.decoded()}
    assert got == set(range(3000)), f"missing {sorted(set(range(3000)) - got)[:10]}"


def test_pacing_follows_plant_time_divided_by_speedup() -> None:
    rs = [OperatorNote(Header("P-101", "log", i * 10**9, 1, i), "x") for i in range(5)]
    stats = PublishStats()
    t0 = time.monotonic()
    arrivals = [time.monotonic() - t0 for _ in paced(rs, 0, 10.0, threading.Event(), stats)]
    # reading i is due at i/10 s of wall time
    assert arrivals == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4], abs=0.05)
    stop = threading.Event()
    stop.set()
    assert list(paced(rs, 0, 10.0, stop)) == []
