"""Acceptance: no loss, no duplicates, under kill -9 of ingest, a broker restart, and with
several workers sharing a subscription while one of them is killed. Real Mosquitto, real
``plantwatch ingest`` child processes, real files."""

from __future__ import annotations

import json
import random
import threading
import time
from pathlib import Path

import pytest

from tests.ingest_helpers import (
    BENCH_TOML,
    IngestProcess,
    Publisher,
    plant_config,
    readings,
    stored_keys,
    wait_for,
    write_config,
)


def _ready(store: Path, worker: str) -> bool:
    """A worker writes its metrics snapshot once connected and subscribed."""
    return (store / "_ingest" / f"metrics-{worker}.json").exists()


def _start(config: Path, store: Path, worker: str) -> IngestProcess:
    proc = IngestProcess(config, worker)
    proc.start()
    assert wait_for(lambda: _ready(store, worker), 30), proc.log.read_text()[-3000:]
    return proc


def _publish_in_background(pub: Publisher, items, rate: float) -> threading.Thread:
    t = threading.Thread(target=pub.publish, args=(items, rate))
    t.start()
    return t


def _assert_exactly_once(store: Path, acked: list, plant) -> None:
    def all_there() -> bool:
        counts = stored_keys(store, plant)
        return all(k in counts for k in acked)

    assert wait_for(all_there, 60, 0.5), "acknowledged readings missing from the store"
    counts = stored_keys(store, plant)
    missing = [k for k in acked if k not in counts]
    twice = {k: n for k, n in counts.items() if n > 1}
    assert not missing, f"{len(missing)} acknowledged readings lost, e.g. {missing[:3]}"
    assert not twice, f"{len(twice)} readings stored more than once, e.g. {list(twice)[:3]}"


def test_kill_9_repeatedly_loses_nothing_and_duplicates_nothing(mosquitto, tmp_path):
    plant = plant_config(BENCH_TOML)  # the benchmark plant: 200 assets
    store = tmp_path / "store"
    config = write_config(tmp_path, store, mosquitto.url, source=BENCH_TOML)
    items = readings(plant, 7, vibration_every=7)  # 4,400 messages, 200 vibration snapshots
    rng = random.Random(3)
    rng.shuffle(items)  # snapshots spread over the run (a gateway's reordering, too)
    ingest = _start(config, store, "w0")
    pub = Publisher(mosquitto.url)
    publishing = _publish_in_background(pub, items, rate=300)

    def connected() -> int:
        return ingest.log.read_text().count("connected (generation 1")

    try:
        for kill in range(4):  # each kill hits a worker that is connected and writing
            assert wait_for(lambda k=kill: connected() > k, 30), ingest.log.read_text()[-2000:]
            time.sleep(rng.uniform(0.1, 1.2))
            ingest.kill()
            ingest.start()  # the broker kept our session and queued meanwhile
        publishing.join()
        pub.wait_all()
        acked = pub.acknowledged()
        assert len(acked) == len(items)
        _assert_exactly_once(store, acked, plant)
        assert ingest.log.read_text().count("session resumed") >= 4
    finally:
        pub.close()
        assert ingest.stop() == 0


def test_broker_restart_mid_run_loses_nothing(mosquitto, tmp_path):
    plant = plant_config()
    store = tmp_path / "store"
    config = write_config(tmp_path, store, mosquitto.url)
    items = readings(plant, 150, vibration_every=30)
    ingest = _start(config, store, "w0")
    pub = Publisher(mosquitto.url)
    publishing = _publish_in_background(pub, items, rate=500)
    try:
        time.sleep(2.0)
        mosquitto.stop()  # SIGTERM: Mosquitto saves its persistence file
        time.sleep(0.5)
        mosquitto.start()
        publishing.join()
        pub.wait_all(60)
        resent = pub.republish_unmatched()  # see Publisher: Mosquitto's shared-sub restore gap
        pub.wait_all(30)
        acked = pub.acknowledged()
        assert len(set(acked)) == len(items), f"{resent} republished; reasons {set(pub.reasons())}"
        _assert_exactly_once(store, acked, plant)
    finally:
        pub.close()
        assert ingest.stop() == 0


@pytest.mark.parametrize("workers", [2, 3])
def test_shared_subscription_splits_load_and_loses_nothing_when_one_dies(
    mosquitto, tmp_path, workers
):
    plant = plant_config()
    store = tmp_path / "store"
    config = write_config(tmp_path, store, mosquitto.url)
    names = [f"w{i}" for i in range(workers)]
    procs = {n: _start(config, store, n) for n in names}
    items = readings(plant, 120)
    pub = Publisher(mosquitto.url)
    publishing = _publish_in_background(pub, items, rate=600)
    try:
        time.sleep(1.0)
        procs["w0"].kill()  # its unacknowledged and queued messages wait for it
        time.sleep(1.0)
        procs["w0"].start()
        publishing.join()
        pub.wait_all()
        acked = pub.acknowledged()
        assert len(acked) == len(items)
        _assert_exactly_once(store, acked, plant)
    finally:
        pub.close()
        codes = [p.stop() for p in procs.values()]
    assert codes == [0] * workers
    stored = {n: json.loads((store / "_ingest" / f"metrics-{n}.json").read_text()) for n in names}
    shares = [stored[n]["stored"] for n in names[1:]]  # w0's counters restarted with it
    assert all(s >= len(items) / workers * 0.5 for s in shares), shares
