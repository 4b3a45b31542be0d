"""The ingest service against a real Mosquitto: readings stored, bad messages dead-lettered with
their reason, notes redacted, republished readings stored once, figures exported."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from ingest.service import IngestService
from ingest.store.reader import StoreReader
from plant import codec, topics
from plant.readings import Header, Modality, OperatorNote
from tests.ingest_helpers import (
    Publisher,
    dead_letters,
    plant_config,
    readings,
    stored_keys,
    wait_for,
)


@pytest.fixture
def service(mosquitto, tmp_path: Path):
    plant = plant_config()
    store = tmp_path / "store"
    svc = IngestService(plant, store, broker=mosquitto.url, worker="w0", metrics_port=0)
    stop = threading.Event()
    thread = threading.Thread(target=svc.run, args=(stop,))
    thread.start()
    assert wait_for(svc.consumer.subscribed.is_set, 10)
    yield svc
    stop.set()
    thread.join(30)
    assert not thread.is_alive()


def test_readings_stored_once_and_bad_ones_dead_lettered(service, mosquitto):
    plant = service.plant
    items = readings(plant, 20, vibration_every=10)
    bad_topic = topics.reading_topic("demo", "pumphouse", "NOPE-1", "temp", Modality.THERMAL)
    good_topic = next(t for t, _, _ in items if t.endswith("/thermal"))
    bad = [
        (bad_topic, items[0][1], None),
        (good_topic, b'{"v":1,"ts_ns":1,"epoch":1,"seq":1}', None),
        (good_topic, b"\xff\xfe not json", None),
    ]
    pub = Publisher(mosquitto.url)
    pub.publish(items + items[:50] + bad)  # 50 republished: must be stored once
    pub.wait_all()
    assert len(pub.acknowledged()) == len(items) + 50 + 3
    expected = {k for _, _, k in items}
    assert wait_for(lambda: service.metrics.stored >= len(expected), 20)
    assert wait_for(lambda: sum(service.metrics.dead_letters.values()) == 3, 10)
    pub.close()

    counts = stored_keys(service.root, service.plant)
    assert set(counts) == expected
    assert max(counts.values()) == 1
    assert service.metrics.duplicates == 50
    reasons = sorted(d.reason for d in dead_letters(service.root))
    assert reasons == ["malformed", "missing_field", "unknown_asset"]

    snap = json.loads(service.snapshot_path.read_text()) if service.snapshot_path.exists() else {}
    body = urllib.request.urlopen(f"http://127.0.0.1:{service.server.port}/metrics").read()
    assert b'plantwatch_ingest_dead_letters_total{worker="w0",reason="unknown_asset"} 1' in body
    assert b"plantwatch_ingest_stored_total" in body
    assert snap == {} or snap["worker"] == "w0"


def test_notes_are_redacted_before_storing(service, mosquitto):
    asset = service.plant.resolved_assets[0]
    h = Header(asset.id, "log", time.time_ns(), 1, 1)
    note = OperatorNote(h, "called John Smith on 0412 345 678 about P-101 at 120 psi", "J. Smith")
    topic = topics.reading_topic(asset.site, asset.area, asset.id, "log", Modality.NOTES)
    pub = Publisher(mosquitto.url)
    pub.publish([(topic, codec.encode(note), h.dedup_key)])
    pub.wait_all()
    pub.close()
    assert wait_for(lambda: service.metrics.stored == 1, 10)
    [stored] = StoreReader(service.root).readings(Modality.NOTES)
    assert stored.text == "called [NAME] on [PHONE] about P-101 at 120 psi"
    assert stored.author == "[NAME]"


def test_new_epoch_with_the_same_seq_is_not_a_duplicate(service, mosquitto):
    plant = service.plant
    first = readings(plant, 3, epoch=1)
    second = readings(plant, 3, epoch=2)  # the gateway restarted its counter
    pub = Publisher(mosquitto.url)
    pub.publish(first + second)
    pub.wait_all()
    pub.close()
    n = len(first) + len(second)
    assert wait_for(lambda: service.metrics.stored == n, 10)
    assert service.metrics.duplicates == 0
    assert len(stored_keys(service.root, plant)) == n


def test_service_started_before_its_broker_waits_for_it(mosquitto, tmp_path):
    mosquitto.stop()
    plant = plant_config()
    svc = IngestService(plant, tmp_path / "store", broker=mosquitto.url, worker="w0")
    stop = threading.Event()
    thread = threading.Thread(target=svc.run, args=(stop,))
    thread.start()
    try:
        time.sleep(1.5)
        assert not svc.consumer.subscribed.is_set()
        mosquitto.start()
        assert wait_for(svc.consumer.subscribed.is_set, 20)
        items = readings(plant, 2)
        pub = Publisher(mosquitto.url)
        pub.publish(items)
        pub.wait_all()
        pub.close()
        assert wait_for(lambda: svc.metrics.stored == len(items), 10)
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive()
