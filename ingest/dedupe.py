"""Deduplication by (asset, sensor, epoch, seq), durable and shared by every ingest worker.

The index is a SQLite database in the store (``<store>/_ingest/dedup.sqlite``, WAL journal mode)
with the key as PRIMARY KEY. SQLite was chosen over per-sensor high-water marks because gateways
republish out of order after a reconnect and the simulator reorders on purpose: a high-water mark
would need a reorder window and would still misjudge a late reading, an exact key set does not.
Several worker processes may open the same file; SQLite's locking serialises their writes.

How it fits the write path (see ``ingest/service.py``)::

    keys of a batch --(known)--> duplicates: acknowledged, not written again
                    --(new)----> WAL append + fsync --> ``commit`` keys --> acknowledge

Keys are committed after the WAL fsync, so a crash between the two leaves readings in the WAL
whose keys are not in the index; ``IngestService`` re-indexes its own WAL tail on start-up,
before it connects, so their redelivery is recognised. Entries older than ``retain_s`` (by
reading time) are pruned: the service prunes below its ``max_past_s`` limit, since a live
reading that old is dead-lettered (``timestamp_past``) before dedup is asked. Imported history
keeps its own index (``name="imports"``), never pruned.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

Key = tuple[str, str, int, int]  # (asset, sensor, epoch, seq)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS seen (
    asset TEXT NOT NULL, sensor TEXT NOT NULL, epoch INTEGER NOT NULL, seq INTEGER NOT NULL,
    ts_ns INTEGER NOT NULL,
    PRIMARY KEY (asset, sensor, epoch, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS seen_ts ON seen (ts_ns);
"""
_CHUNK = 400  # keys per SELECT (4 parameters each; SQLite's limit is 32766)


class DedupIndex:
    """The set of keys already durable in the store (or in a worker's WAL)."""

    def __init__(
        self, store_root: str | Path, *, name: str = "dedup", timeout_s: float = 60.0
    ) -> None:
        self.path = Path(store_root) / "_ingest" / f"{name}.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            self.path, timeout=timeout_s, isolation_level=None, check_same_thread=False
        )
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL: a commit survives a process crash but not necessarily a power cut. That is
        # enough because the index is derived data: every key not yet in Parquet is also in a
        # worker's fsynced WAL, and workers re-index their WAL on start-up. Saves an fsync a batch.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def known(self, keys: Sequence[Key]) -> set[Key]:
        """Which of ``keys`` are already in the index."""
        found: set[Key] = set()
        with self._lock:
            for i in range(0, len(keys), _CHUNK):
                chunk = keys[i : i + _CHUNK]
                where = " OR ".join(["(asset=? AND sensor=? AND epoch=? AND seq=?)"] * len(chunk))
                args = [v for k in chunk for v in k]
                rows = self._db.execute(
                    f"SELECT asset, sensor, epoch, seq FROM seen WHERE {where}", args
                )
                found.update((a, s, int(e), int(q)) for a, s, e, q in rows)
        return found

    def commit(self, entries: Iterable[tuple[Key, int]]) -> int:
        """Record ``(key, ts_ns)`` pairs durably; return how many were new."""
        rows = [(*k, ts) for k, ts in entries]
        if not rows:
            return 0
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                before = self._db.total_changes
                cur.executemany("INSERT OR IGNORE INTO seen VALUES (?, ?, ?, ?, ?)", rows)
                added = self._db.total_changes - before
                cur.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:  # SQLite may have rolled back already (disk full)
                    cur.execute("ROLLBACK")
                raise
        return added

    def prune(self, older_than_ns: int) -> int:
        with self._lock:
            cur = self._db.execute("DELETE FROM seen WHERE ts_ns < ?", (older_than_ns,))
        log.info("dedup index: pruned %d keys older than %d", cur.rowcount, older_than_ns)
        return cur.rowcount

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM seen").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
