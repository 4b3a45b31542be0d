"""The ingest service: MQTT readings -> validated, deduplicated, durable in the store.

One worker process = one MQTT session (client id ``ingest-<worker>``, persistent, QoS 1, a
shared subscription so several workers split the load) and one write-ahead log
(``<store>/_wal/<worker>``). Per batch, on the worker thread::

    validate (dead letters with reasons) -> redact notes -> drop known keys (dedup index)
    -> WAL append -> fsync (readings and dead letters) -> commit keys -> acknowledge, in order

Nothing is acknowledged before it is durable, so a kill -9 at any instant loses nothing: the
broker redelivers what was not acknowledged and the dedup index recognises what was already
written. When the disk is full or the store fails, the batch is kept, nothing is acknowledged
(the broker stops sending once ``receive_maximum`` messages are unacknowledged and queues the
rest), the reason is logged and exported, and the batch is retried with back-off until it
succeeds.
"""

from __future__ import annotations

import fcntl
import logging
import os
import queue
import threading
import time
from pathlib import Path

from ingest.batch import BatchWriter, StoreUnavailableError
from ingest.consumer import Consumer, Message
from ingest.metrics import MetricsServer, write_snapshot
from ingest.store.checkpoint import BackgroundFlusher
from ingest.store.maintenance import StoreUpkeep
from plant import topics
from plant.config import PlantConfig
from plant.mqtt import BrokerUrl

log = logging.getLogger(__name__)

DEAD_LETTER_FLUSH_S = 30.0  # dead letters are durable in their log at once; Parquet follows
PRUNE_EVERY_S = 3600.0


class IngestService:
    """A worker: a :class:`Consumer` feeding a :class:`BatchWriter`, plus metrics."""

    def __init__(
        self,
        plant: PlantConfig,
        store_root: str | Path,
        *,
        broker: str | None = None,
        worker: str = "w0",
        password: str | None = None,
        metrics_port: int | None = None,
        flush_interval_s: float = 10.0,
    ) -> None:
        self.plant = plant
        self.limits = plant.ingest
        self.root = Path(store_root)
        self.worker = topics.check_id("worker", worker)
        self._lock_file = _exclusive(self.root / "_ingest" / f"{worker}.lock")
        self.writer = BatchWriter(plant, self.root, worker)
        self.metrics = self.writer.metrics
        self.consumer = Consumer(
            BrokerUrl.parse(broker or plant.broker.url),
            f"ingest-{worker}",
            topic_filter=topics.shared(self.limits.group, topics.readings_filter()),
            password=password,
            qos=max(1, plant.broker.qos),
            session_expiry_s=self.limits.session_expiry_s,
            receive_maximum=self.limits.receive_maximum,
        )
        self.server = (
            MetricsServer(self.metrics, metrics_port) if metrics_port is not None else None
        )
        self.snapshot_path = self.root / "_ingest" / f"metrics-{worker}.json"
        self.flusher = BackgroundFlusher(self.writer.wal, self.root, interval_s=flush_interval_s)
        self.upkeep = StoreUpkeep(self.root, plant.store)  # compaction and retention

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set; then write what is in hand and disconnect."""
        self.flusher.start()
        self.upkeep.start()
        next_snapshot = next_flush = 0.0
        next_prune = time.monotonic() + PRUNE_EVERY_S
        try:
            self._connect(stop)
            while not stop.is_set():
                batch = self._next_batch(stop)
                if batch:
                    self._write_until_durable(batch, stop)
                now = time.monotonic()
                if now >= next_snapshot:
                    self._publish_metrics()
                    next_snapshot = now + self.limits.metrics_interval_s
                if now >= next_flush:
                    self._flush_dead_letters()
                    next_flush = now + DEAD_LETTER_FLUSH_S
                if now >= next_prune:
                    self._prune_dedup()
                    next_prune = now + PRUNE_EVERY_S
        finally:
            self.consumer.stop()
            self.upkeep.stop()
            self._stop_flusher()
            self._publish_metrics()
            self._flush_dead_letters()
            self.writer.close()
            if self.server:
                self.server.close()

    def _connect(self, stop: threading.Event) -> None:
        """Connect, retrying every few seconds while the broker is not reachable."""
        wait_s = 1.0
        while not stop.is_set():
            try:
                self.consumer.start()
                return
            except (ConnectionError, OSError) as exc:
                log.warning(
                    "broker %s not reachable (%s); retrying in %.0f s",
                    self.consumer.broker,
                    exc,
                    wait_s,
                )
                self.consumer.client.loop_stop()
                stop.wait(wait_s)
                wait_s = min(wait_s * 2, 10.0)

    def _next_batch(self, stop: threading.Event) -> list[Message]:
        inbox = self.consumer.inbox
        try:
            batch = [inbox.get(timeout=0.2)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + self.limits.batch_wait_ms / 1000
        nbytes, max_bytes = len(batch[0].payload), self.limits.batch_max_bytes
        while len(batch) < self.limits.batch_max and nbytes < max_bytes:
            try:
                batch.append(inbox.get_nowait())
                nbytes += len(batch[-1].payload)
                continue
            except queue.Empty:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0 or stop.is_set():
                break
            try:  # block (no spinning) until the next message or the batch deadline
                batch.append(inbox.get(timeout=remaining))
                nbytes += len(batch[-1].payload)
            except queue.Empty:
                break
        return batch

    def _write_until_durable(self, batch: list[Message], stop: threading.Event) -> None:
        backoff = 0.1
        while True:
            try:
                self.writer.write(batch)
                self.flusher.wal = self.writer.wal  # the writer reopens its WAL after errors
                break
            except StoreUnavailableError as exc:
                self.metrics.on_backpressure(str(exc))
                log.warning(
                    "back-pressure: not acknowledging %d messages (%s); retry in %.1f s",
                    len(batch),
                    exc,
                    backoff,
                )
                if stop.wait(backoff):
                    return  # unacknowledged: the broker redelivers after a restart
                backoff = min(backoff * 2, 5.0)
        if self.metrics.backpressure_reason:
            log.info("store writable again: consuming")
            self.metrics.clear_backpressure()
        self.consumer.ack(batch)

    def _publish_metrics(self) -> None:
        try:
            write_snapshot(self.metrics.snapshot(), self.snapshot_path)
        except OSError as exc:
            log.warning("could not write the metrics snapshot %s: %s", self.snapshot_path, exc)

    def _prune_dedup(self) -> None:
        """Forget keys of readings so old that a copy would be dead-lettered as timestamp_past."""
        horizon_ns = int((self.limits.max_past_s + PRUNE_EVERY_S) * 1e9)
        try:
            self.writer.dedup.prune(time.time_ns() - horizon_ns)
        except Exception as exc:
            log.warning("pruning the dedup index failed; retrying later: %s", exc)

    def _stop_flusher(self) -> None:
        try:
            self.flusher.stop(final_flush=True)
        except Exception as exc:
            log.warning("final checkpoint failed; the WAL keeps the readings: %s", exc)

    def _flush_dead_letters(self) -> None:
        try:
            self.writer.dead.flush()
        except Exception as exc:
            log.warning("dead letters stay in their log until the next flush: %s", exc)


def _exclusive(path: Path) -> object:
    """Hold an exclusive lock on ``path`` for the process's life: one process per worker id."""
    path.parent.mkdir(parents=True, exist_ok=True)
    f = open(path, "a+")  # noqa: SIM115 (kept open: the lock lives as long as the file)
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        raise RuntimeError(f"another ingest process holds worker lock {path}") from None
    f.write(f"{os.getpid()}\n")
    f.flush()
    return f
