"""The durable half of an ingest worker, without MQTT: one batch in, durable or an exception.

Per batch::

    validate (dead letters with reasons) -> redact notes -> drop known keys (dedup index)
    -> WAL append -> fsync (readings and dead letters) -> commit keys

The caller (:class:`ingest.service.IngestService`) acknowledges the batch only after
:meth:`BatchWriter.write` returned; on :class:`StoreUnavailableError` it keeps the batch and
retries. After any failure the logs are reopened from disk and the WAL re-indexed, so a retry
never stores a reading twice.
"""

from __future__ import annotations

import dataclasses
import logging
import time
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
from plant.readings import OperatorNote

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class _Good:
    message: Message
    key: Key
    ts_ns: int
    payload: bytes  # what goes into the WAL (a note re-encoded after redaction)


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
        self.wal = WriteAheadLog(self.wal_dir)
        self.dead = DeadLetterLog(self.root, worker)
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
        """Make ``batch`` durable (readings or dead letters); raise StoreUnavailableError if not."""
        self.metrics.on_received(len(batch), sum(len(m.payload) for m in batch))
        good, dead = self._classify(batch)
        try:
            known = self.dedup.known([g.key for g in good]) if good else set()
            fresh, seen = [], set(known)
            for g in good:
                if g.key not in seen:
                    seen.add(g.key)
                    fresh.append(g)
            for g in fresh:
                self.wal.append(g.message.topic, g.payload, g.message.arrival_ns)
            for letter in dead:
                self.dead.append(letter)
            self.wal.sync()
            self.dead.sync()
            self.dedup.commit([(g.key, g.ts_ns) for g in fresh])
        except Exception as exc:  # OSError (ENOSPC, EIO), sqlite3 errors: keep the batch
            self._recover_after(exc)
            raise StoreUnavailableError(f"{type(exc).__name__}: {exc}") from exc
        for letter in dead:
            self.metrics.on_dead_letter(letter.reason)
        now = time.time_ns()
        headers = [(*g.key, g.ts_ns, g.message.arrival_ns) for g in fresh]
        lag = now - min(m.arrival_ns for m in batch)
        self.metrics.on_stored(
            headers, sum(len(g.payload) for g in fresh), len(good) - len(fresh), lag
        )

    def _classify(self, batch: list[Message]) -> tuple[list[_Good], list[DeadLetter]]:
        good, dead = [], []
        for m in batch:
            res = self.validator.check(m.topic, m.payload, m.arrival_ns)
            if isinstance(res, Accepted):
                r, payload = res.reading, m.payload
                if isinstance(r, OperatorNote):
                    r = OperatorNote(r.header, redact(r.text).text, redact_author(r.author))
                    payload = codec.encode(r)
                good.append(_Good(m, r.header.dedup_key, r.header.ts_ns, payload))
            else:
                dead.append(DeadLetter(m.topic, m.payload, m.arrival_ns, res.reason, res.detail))
        return good, dead

    def _recover_after(self, exc: Exception) -> None:
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
        self.wal = WriteAheadLog(self.wal_dir, segment_bytes=self.wal.segment_bytes)

    def close(self) -> None:
        self.wal.close()
        self.dead.close()
        self.dedup.close()
