"""The ingest service: MQTT readings -> validated, deduplicated, durable in the store.

One worker process = one MQTT session (client id ``ingest-<worker>``, persistent, QoS 1, a
shared subscription so several workers split the load) and one write-ahead log
(``<store>/_wal/<worker>``). Per batch::

    worker thread: validate (dead letters with reasons) -> redact notes -> drop known keys
                   (dedup index) -> WAL append                          } batch k+1
    sync thread:   fsync (readings and dead letters) -> commit keys
                   -> acknowledge, in order                              } batch k

The fsync of one batch overlaps the decoding and appending of the next (the worker waits when
``PIPELINE_DEPTH`` appended batches are queued for the sync thread); batches waiting when the
sync thread gets to them share one fsync. A batch is acknowledged only after an fsync that
began after it was appended.

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
from collections.abc import Callable
from pathlib import Path

from ingest.batch import BatchWriter, Prepared, StoreUnavailableError
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
PIPELINE_DEPTH = 2  # appended batches queued for the sync thread, at most


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
        self.syncer = _Syncer(self.writer, self.consumer.ack)

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set; then write what is in hand and disconnect."""
        self.flusher.start()
        self.upkeep.start()
        self.syncer.start()
        next_snapshot = next_flush = 0.0
        next_prune = time.monotonic() + PRUNE_EVERY_S
        try:
            self._connect(stop)
            while not stop.is_set():
                batch = self._next_batch(stop)
                if batch:
                    self._submit(batch, stop)
                elif self.syncer.failed.is_set():  # no new batch: retry the failed ones now
                    self._retry_unfinished([], stop)
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
            self._stop_syncer(stop)
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

    def _submit(self, batch: list[Message], stop: threading.Event) -> None:
        """Append ``batch`` to the WAL and hand it to the sync thread; on a store failure, take
        back what is not durable yet and retry it in order (back-pressure)."""
        if self.syncer.failed.is_set():
            self._retry_unfinished([batch], stop)
            return
        try:
            prepared = self.writer.prepare(batch)
        except StoreUnavailableError as exc:  # logged by the recovery
            self.metrics.on_backpressure(str(exc))
            self._retry_unfinished([batch], stop, exc)
            return
        self.syncer.submit(prepared)

    def _retry_unfinished(
        self, batches: list[list[Message]], stop: threading.Event, error: Exception | None = None
    ) -> None:
        """Wait for the sync thread; then recover the logs and write every batch not yet durable
        (the sync thread's failed ones first, then ``batches``) until each succeeds, in order."""
        self.syncer.wait_idle()
        failure, unfinished = self.syncer.take_failed()
        todo = [p.batch for p in unfinished] + batches
        self.writer.recover(error or failure or RuntimeError("unknown store failure"))
        self.flusher.wal = self.writer.wal
        for batch in todo:
            if not self._write_until_durable(batch, stop):
                return  # stopping: unacknowledged, the broker redelivers after a restart

    def _write_until_durable(self, batch: list[Message], stop: threading.Event) -> bool:
        backoff = 0.1
        while True:
            try:
                self.writer.write(batch)
                self.flusher.wal = self.writer.wal  # the writer reopens its WAL after errors
                break
            except StoreUnavailableError as exc:
                self.flusher.wal = self.writer.wal
                self.metrics.on_backpressure(str(exc))
                log.warning(
                    "back-pressure: not acknowledging %d messages (%s); retry in %.1f s",
                    len(batch),
                    exc,
                    backoff,
                )
                if stop.wait(backoff):
                    return False  # unacknowledged: the broker redelivers after a restart
                backoff = min(backoff * 2, 5.0)
        if self.metrics.backpressure_reason:
            log.info("store writable again: consuming")
            self.metrics.clear_backpressure()
        self.consumer.ack(batch)
        return True

    def _stop_syncer(self, stop: threading.Event) -> None:
        """Finish what was handed to the sync thread (a failure there: retried until ``stop``;
        the service is stopping, so a batch still failing stays unacknowledged)."""
        self.syncer.wait_idle()
        if self.syncer.failed.is_set():
            self._retry_unfinished([], stop)
        self.syncer.stop()

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


class _Syncer:
    """The sync thread: fsync what the worker appended, commit the keys, acknowledge, in order.

    After a failure it stops finishing (``failed`` set) and keeps the unfinished batches for
    the worker, which recovers the logs and retries them (``take_failed``).
    """

    def __init__(self, writer: BatchWriter, ack: Callable[[list[Message]], object]) -> None:
        self.writer = writer
        self.ack = ack
        self.failed = threading.Event()
        self._queue: queue.Queue[Prepared | None] = queue.Queue(maxsize=PIPELINE_DEPTH)
        self._failure: BaseException | None = None
        self._unfinished: list[Prepared] = []
        self._thread = threading.Thread(target=self._run, name="ingest-sync", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, prepared: Prepared) -> None:
        """Hand over an appended batch (blocks while ``PIPELINE_DEPTH`` are not yet durable)."""
        self._queue.put(prepared)

    def wait_idle(self) -> None:
        """Until every submitted batch is finished (durable and acknowledged) or failed."""
        self._queue.join()

    def take_failed(self) -> tuple[BaseException | None, list[Prepared]]:
        """The failure and the batches not made durable since (in order); clears ``failed``."""
        failure, unfinished = self._failure, self._unfinished
        self._failure, self._unfinished = None, []
        self.failed.clear()
        return failure, unfinished

    def stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def _run(self) -> None:
        while True:
            group = [self._queue.get()]
            while True:  # group commit: whatever else is waiting shares the fsync
                try:
                    group.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            taken = len(group)
            done = None in group
            group = [p for p in group if p is not None]
            try:
                self._finish(group)
            finally:
                for _ in range(taken):
                    self._queue.task_done()
            if done:
                return

    def _finish(self, group: list[Prepared]) -> None:
        if not group:
            return
        if not self.failed.is_set():
            try:
                self.writer.finish(group)
            except StoreUnavailableError as exc:
                log.error("fsync failed, %d batches kept and not acknowledged: %s", len(group), exc)
                self.writer.metrics.on_backpressure(f"fsync failed: {exc}")
                self._failure = exc
                self.failed.set()
            except Exception as exc:  # a defect: keep the batches for the retry path too
                log.exception("finishing %d batches failed", len(group))
                self._failure = exc
                self.failed.set()
            else:
                for p in group:
                    try:
                        self.ack(p.batch)
                    except Exception:  # durable already: the broker redelivers, dedup drops it
                        log.exception("acknowledging %d messages failed", len(p.batch))
                return
        self._unfinished.extend(group)


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
