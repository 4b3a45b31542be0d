"""Back-pressure: with the disk full, ingest stops acknowledging (so the broker holds the
messages), says why, and once space is back it catches up by itself with nothing lost."""

from __future__ import annotations

import errno
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from ingest.batch import BatchWriter, StoreUnavailableError
from ingest.consumer import Message
from ingest.service import IngestService
from tests.ingest_helpers import Publisher, plant_config, readings, stored_keys, wait_for


def test_a_failing_disk_raises_and_a_retry_after_recovery_stores_once(tmp_path, monkeypatch):
    plant = plant_config()
    writer = BatchWriter(plant, tmp_path / "store", "w0")
    now = time.time_ns()
    batch = [Message(t, p, now, i, 1, 1) for i, (t, p, _) in enumerate(readings(plant, 5))]
    real_fsync, real_fdatasync = os.fsync, os.fdatasync
    failures = {"left": 2}

    def fsync(fd: int) -> None:
        if failures["left"] > 0:
            failures["left"] -= 1
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "fdatasync", fsync)  # the WAL syncs with fdatasync
    with pytest.raises(StoreUnavailableError, match="No space left"):
        writer.write(batch)
    monkeypatch.setattr(os, "fsync", real_fsync)
    monkeypatch.setattr(os, "fdatasync", real_fdatasync)
    writer.write(batch)  # the retry of the same, unacknowledged batch
    writer.close()
    counts = stored_keys(tmp_path / "store", plant)
    assert len(counts) == len(batch) and set(counts.values()) == {1}


@pytest.fixture
def tiny_disk(tmp_path: Path):
    """A 6 MiB tmpfs with a 3 MiB ballast file to delete when the test wants space back."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mount)])
    assert done.returncode == 0, "this test needs to mount a tmpfs (run as root, as CI does)"
    (mount / "ballast").write_bytes(b"\0" * (3 << 20))
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


def test_disk_full_stops_acknowledging_then_recovers_with_nothing_lost(mosquitto, tiny_disk):
    plant = plant_config()
    store = tiny_disk / "store"
    svc = IngestService(plant, store, broker=mosquitto.url, flush_interval_s=3600)
    stop = threading.Event()
    thread = threading.Thread(target=svc.run, args=(stop,))
    thread.start()
    pub = Publisher(mosquitto.url)
    try:
        assert wait_for(svc.consumer.subscribed.is_set, 10)
        items = readings(plant, 4, vibration_every=1)  # 24 snapshots, 3.7 MB: > the free 3 MB
        pub.publish(items)
        assert wait_for(lambda: svc.metrics.backpressure_reason != "", 30)
        assert "No space left" in svc.metrics.backpressure_reason
        stalled = svc.metrics.stored
        time.sleep(1.0)
        assert svc.metrics.stored == stalled  # not consuming while the disk is full
        assert len(pub.acknowledged()) == len(items)  # the broker holds them meanwhile
        (tiny_disk / "ballast").unlink()
        n = len(items)
        assert wait_for(lambda: len(stored_keys(store, plant)) == n, 60)
        assert svc.metrics.backpressure_reason == ""
        assert svc.metrics.backpressure_events >= 1
    finally:
        pub.close()
        stop.set()
        thread.join(30)
    counts = stored_keys(store, plant)
    assert set(counts) == {k for _, _, k in items} and set(counts.values()) == {1}


def test_a_failed_fsync_on_the_sync_thread_is_retried_with_nothing_lost(
    mosquitto, tmp_path, monkeypatch
):
    """The fsync of one batch runs on the sync thread while the worker appends the next: when
    it fails, every batch not yet durable is taken back and retried (here on the worker thread,
    where fsync works), the last one with no new message arriving; nothing is stored twice."""
    plant = plant_config()
    store = tmp_path / "store"
    real_fsync = os.fsync
    failures = {"left": 10**9}  # every fsync on the sync thread fails

    def fsync(fd: int) -> None:
        if threading.current_thread().name == "ingest-sync" and failures["left"] > 0:
            failures["left"] -= 1
            raise OSError(errno.EIO, "Input/output error")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "fdatasync", fsync)  # the WAL syncs with fdatasync
    svc = IngestService(plant, store, broker=mosquitto.url, flush_interval_s=3600)
    acked, paho_ack = [], svc.consumer.client.ack
    svc.consumer.client.ack = lambda mid, qos: acked.append(mid) or paho_ack(mid, qos)
    stop = threading.Event()
    thread = threading.Thread(target=svc.run, args=(stop,))
    thread.start()
    pub = Publisher(mosquitto.url)
    try:
        assert wait_for(svc.consumer.subscribed.is_set, 10)
        items = readings(plant, 20, vibration_every=4)
        pub.publish(items)  # then nothing more: the retry must not wait for a new batch
        n = len(items)
        assert wait_for(lambda: len(acked) == n, 30), f"{len(acked)} of {n} acknowledged"
        assert len(stored_keys(store, plant)) == n
        assert failures["left"] < 10**9 and svc.metrics.backpressure_events >= 1
        assert svc.metrics.backpressure_reason == ""
    finally:
        pub.close()
        stop.set()
        thread.join(30)
    counts = stored_keys(store, plant)
    assert set(counts) == {k for _, _, k in items} and set(counts.values()) == {1}
