"""The durable half of an ingest worker, without MQTT: one batch in, durable or an exception.

Per batch, in two steps::

    prepare: validate (dead letters with reasons) -> redact notes
             -> drop known keys (dedup index + keys appended but not yet committed)
             -> WAL append (readings) + dead-letter log append
    finish:  fsync (readings and dead letters) -> commit keys

The caller acknowledges a batch only after :meth:`BatchWriter.finish` (or :meth:`write`, both
steps) returned for it. :class:`ingest.service.IngestService` finishes batch k on a second
thread while it prepares batch k+1 (the fsync overlaps the next batch's decoding); ``finish``
makes everything appended before it durable, so finishing in order is enough. On
:class:`StoreUnavailableError` the caller keeps the batches that are not finished, calls
:meth:`recover` (logs reopened from disk, WAL re-indexed) and retries them in order, so a retry
never stores a reading twice.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from ingest.consumer import Message
from ingest.deadletter import DeadLetterLog
from ingest.dedupe import DedupIndex, Key
from ingest.metrics import IngestMetrics
from ingest.redact import redact, redact_author
from ingest.store.layout import WAL
from ingest.store.records import DeadLetter
from ingest.store.wal import WriteAheadLog
from ingest.validate import Accepted, Validator
from plant import codec
from plant.config import PlantConfig
from plant.readings import OperatorNote, Reading

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class _Good:
    message: Message
    key: Key
    ts_ns: int
    payload: bytes  # what goes into the WAL (a note re-encoded after redaction)
    reading: Reading


# Readings up to this payload size are handed to the WAL decoded, so the checkpointer does not
# decode them again (scalars: decoding is most of its work); larger ones (waveforms, images) are
# cheap to decode from their bytes and would keep a segment's payloads in memory twice.
KEEP_DECODED_BYTES = 4096


@dataclasses.dataclass(slots=True)
class Prepared:
    """A batch appended to the logs (not yet durable): what :meth:`BatchWriter.finish` needs."""

    batch: list[Message]
    fresh: list[_Good]
    duplicates: int
    dead: list[DeadLetter]


class StoreUnavailableError(RuntimeError):
    """The store cannot take the batch now (disk full, I/O error, locked index)."""


class BatchWriter:
    """The durable half of a worker, without MQTT: testable on its own."""

    def __init__(self, plant: PlantConfig, store_root: str | Path, worker: str) -> None:
        self.root = Path(store_root)
        self.worker = worker
        self.validator = Validator(plant)
        self.metrics = IngestMetrics(worker)
        self.dedup = DedupIndex(self.root)
        self.wal_dir = self.root / WAL / worker
        # O_DIRECT where the file system allows: no page-cache copy of each payload
        # (ingest.store.wal_direct); the WAL falls back to buffered writes by itself.
        self.wal = WriteAheadLog(self.wal_dir, preallocate=True, direct=True)
        self.dead = DeadLetterLog(self.root, worker)
        self._pending: set[Key] = set()  # appended to the WAL, keys not yet committed
        self._pending_lock = threading.Lock()
        self.reindex()

    def reindex(self) -> int:
        """Put the keys of every reading in our WAL into the dedup index (start-up, after errors).

        Covers a crash between the WAL fsync and the key commit: the WAL copy is the one kept,
        the redelivered copy is then recognised as a duplicate.
        """
        entries = []
        for rec in self.wal.replay():
            res = self.validator.check(rec.topic, rec.payload, rec.arrival_ns)
            if isinstance(res, Accepted):
                entries.append((res.reading.header.dedup_key, res.reading.header.ts_ns))
        added = self.dedup.commit(entries)
        if added:
            log.warning("re-indexed %d readings found in the WAL but not in the dedup index", added)
        return added

    def write(self, batch: list[Message]) -> None:
        """Make ``batch`` durable (readings or dead letters); raise StoreUnavailableError if not
        (after :meth:`recover`, so the same batch can simply be retried)."""
        try:
            self.finish([self.prepare(batch)])
        except StoreUnavailableError as exc:
            self.recover(exc)
            raise

    def prepare(self, batch: list[Message]) -> Prepared:
        """Validate ``batch`` and append it to the logs (buffered, not yet durable).

        Raises StoreUnavailableError (without recovering: the caller first waits for batches
        being finished on another thread, then calls :meth:`recover`).
        """
        self.metrics.on_received(len(batch), sum(len(m.payload) for m in batch))
        good, dead = self._classify(batch)
        try:
            keys = [g.key for g in good]
            # Pending first, then the index: a key leaves ``_pending`` only once committed, so
            # it is found in one or the other even while ``finish`` runs on another thread.
            with self._pending_lock:
                seen = {k for k in keys if k in self._pending}
            seen |= self.dedup.known(keys) if keys else set()
            fresh = []
            for g in good:
                if g.key not in seen:
                    seen.add(g.key)
                    fresh.append(g)
            self.wal.append_many(
                [
                    (g.message.topic, g.payload, g.message.arrival_ns, g.reading)
                    if len(g.payload) <= KEEP_DECODED_BYTES
                    else (g.message.topic, g.payload, g.message.arrival_ns, None)
                    for g in fresh
                ]
            )
            for letter in dead:
                self.dead.append(letter)
        except Exception as exc:  # OSError (ENOSPC, EIO), sqlite3 errors: keep the batch
            raise StoreUnavailableError(f"{type(exc).__name__}: {exc}") from exc
        with self._pending_lock:
            self._pending.update(g.key for g in fresh)
        return Prepared(batch, fresh, len(good) - len(fresh), dead)

    def finish(self, group: Sequence[Prepared]) -> None:
        """Make the prepared batches (and all appended before) durable: one fsync per log, then
        commit their keys. Raises StoreUnavailableError (without recovering)."""
        try:
            self.wal.sync()
            self.dead.sync()
            self.dedup.commit([(g.key, g.ts_ns) for p in group for g in p.fresh])
        except Exception as exc:  # OSError (ENOSPC, EIO), sqlite3 errors: keep the batches
            raise StoreUnavailableError(f"{type(exc).__name__}: {exc}") from exc
        with self._pending_lock:
            self._pending.difference_update(g.key for p in group for g in p.fresh)
        now = time.time_ns()
        for p in group:
            for letter in p.dead:
                self.metrics.on_dead_letter(letter.reason)
            headers = [(*g.key, g.ts_ns, g.message.arrival_ns) for g in p.fresh]
            lag = now - min(m.arrival_ns for m in p.batch)
            self.metrics.on_stored(headers, sum(len(g.payload) for g in p.fresh), p.duplicates, lag)

    def recover(self, exc: BaseException) -> None:
        """After a failed prepare or finish (nothing being finished meanwhile): reopen the logs
        from disk and re-index the WAL, so retrying the unfinished batches stores each once."""
        self._recover_after(exc)
        with self._pending_lock:
            self._pending.clear()  # what reached the WAL is in the index again

    def _classify(self, batch: list[Message]) -> tuple[list[_Good], list[DeadLetter]]:
        good, dead = [], []
        for m in batch:
            res = self.validator.check(m.topic, m.payload, m.arrival_ns)
            if isinstance(res, Accepted):
                r, payload = res.reading, m.payload
                if isinstance(r, OperatorNote):
                    r = OperatorNote(r.header, redact(r.text).text, redact_author(r.author))
                    payload = codec.encode(r)
                good.append(_Good(m, r.header.dedup_key, r.header.ts_ns, payload, r))
            else:
                dead.append(DeadLetter(m.topic, m.payload, m.arrival_ns, res.reason, res.detail))
        return good, dead

    def _recover_after(self, exc: BaseException) -> None:
        log.error("store write failed, batch kept and not acknowledged: %s", exc)
        for name, reopen in (("WAL", self._reopen_wal), ("dead letters", self.dead.reopen)):
            try:
                reopen()
            except Exception as again:
                log.error("reopening the %s failed too: %s", name, again)
        try:
            self.reindex()
        except Exception as again:
            log.error("re-indexing after the failure failed: %s", again)

    def _reopen_wal(self) -> None:
        try:
            self.wal.close()
        except OSError as exc:
            log.warning("closing the WAL after an error: %s", exc)
        self.wal = WriteAheadLog(
            self.wal_dir,
            segment_bytes=self.wal.segment_bytes,
            preallocate=self.wal.preallocate,
            direct=self.wal.direct,
        )

    def close(self) -> None:
        self.wal.close()
        self.dead.close()
        self.dedup.close()
