"""Checkpointing: sealed WAL segments into the Parquet store, exactly once.

For each sealed segment, oldest first: decode its records (topic -> asset/sensor/modality,
payload -> reading via plant.codec), write the readings and dead letters to Parquet files named
after the WAL and the segment (``wal-<name>-<segment>.parquet`` in each partition), make them
durable (fsync + rename), then record the checkpoint and delete the segment. A crash anywhere in
between is safe: on the next run a partition whose file for that segment already exists is
skipped, so no row is written twice, and no segment is deleted before its rows are durable.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from ingest.store.layout import DEAD_LETTERS, Partitioning, remove_stale_temps
from ingest.store.records import DeadLetter
from ingest.store.wal import WalRecord, WriteAheadLog, read_segment
from ingest.store.writer import DAILY, DeadLetterWriter, StoreWriter
from plant.codec import DecodeError, decode
from plant.readings import Reading
from plant.topics import ReadingTopic, TopicError, parse_reading_topic

log = logging.getLogger(__name__)

Redactor = Callable[[Reading], Reading]


@dataclasses.dataclass(slots=True)
class FlushStats:
    segments: int = 0
    records: int = 0
    readings: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    skipped_existing: int = 0  # rows already durable from an interrupted earlier flush

    def add(self, other: FlushStats) -> None:
        for f in dataclasses.fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


@functools.lru_cache(maxsize=1 << 17)
def _topic(topic: str) -> ReadingTopic:
    return parse_reading_topic(topic)  # a plant repeats its topics: parse each once


def decode_record(rec: WalRecord) -> Reading | DeadLetter:
    """The reading a WAL record carries, or the dead letter saying why it is not one."""
    try:
        t = _topic(rec.topic)
    except TopicError as exc:
        return DeadLetter(rec.topic, rec.payload, rec.arrival_ns, "bad_topic", str(exc))
    try:
        return decode(t.asset, t.sensor, t.modality, rec.payload)
    except DecodeError as exc:
        return DeadLetter(rec.topic, rec.payload, rec.arrival_ns, exc.reason, exc.detail)


_RECENT: weakref.WeakKeyDictionary[WriteAheadLog, RecentKeys] = weakref.WeakKeyDictionary()


class RecentKeys:
    """The last ``capacity`` dedup keys seen, to drop redelivered messages across segments."""

    def __init__(self, capacity: int = 1_000_000) -> None:
        self.capacity = capacity
        self._keys: OrderedDict[tuple, None] = OrderedDict()

    def __contains__(self, key: tuple) -> bool:
        return key in self._keys

    def remember(self, keys: list[tuple]) -> None:
        for key in keys:
            self._keys[key] = None
        while len(self._keys) > self.capacity:
            self._keys.popitem(last=False)


def flush_segment(
    wal_name: str,
    segment: int,
    records: list[WalRecord],
    root: Path,
    *,
    partition: Partitioning = DAILY,
    redact: Redactor | None = None,
    recent: RecentKeys | None = None,
    decoded: list | None = None,
) -> FlushStats:
    """Write one segment's records durably to the store (idempotent; see the module docstring).

    ``decoded``: the readings the appender already decoded, one per record (else decoded here).
    """
    stats = FlushStats(segments=1, records=len(records))
    recent = recent or RecentKeys()
    readings: list[Reading] = []
    arrivals: list[int] = []
    letters: list[DeadLetter] = []
    keys: dict[tuple, None] = {}
    if decoded is not None and len(decoded) != len(records):
        decoded = None  # not aligned with what is on disk: decode from the bytes
    for i, rec in enumerate(records):
        memo = decoded[i] if decoded is not None else None
        item = memo if isinstance(memo, Reading) else decode_record(rec)
        if isinstance(item, DeadLetter):
            letters.append(item)
            continue
        key = item.header.dedup_key
        if key in keys or key in recent:
            stats.duplicates += 1
            continue
        keys[key] = None
        readings.append(redact(item) if redact else item)
        arrivals.append(rec.arrival_ns)
    name = f"wal-{wal_name}-{segment:016d}.parquet"
    writer = StoreWriter(root, partition=partition, file_name=name)
    try:
        writer.write_with_ingest_ns(readings, arrivals)
        writer.flush()
    except BaseException:
        writer.abort()
        raise
    dead = DeadLetterWriter(root, file_name=name)
    dead.write(letters)
    dead.close()
    recent.remember(list(keys))  # only once durable: a failed flush is retried in full
    stats.readings = len(readings) - writer.rows_skipped
    stats.skipped_existing = writer.rows_skipped + dead.rows_skipped
    stats.dead_letters = len(letters) - dead.rows_skipped
    return stats


def flush_to_store(
    wal: WriteAheadLog,
    root: str | Path,
    *,
    partition: Partitioning = DAILY,
    redact: Redactor | None = None,
    recent: RecentKeys | None = None,
    include_active: bool = False,
) -> FlushStats:
    """Checkpoint every sealed segment of ``wal`` into the store at ``root``; return counts.

    ``include_active`` seals the active segment first, so everything appended so far is flushed.
    """
    root = Path(root)
    if include_active:
        wal.rotate()
    total = FlushStats()
    if recent is None:  # remembered per log, so redeliveries across segments are dropped too
        recent = _RECENT.setdefault(wal, RecentKeys())
    for seg in wal.segments():
        if not seg.sealed or seg.id <= wal.checkpoint:
            continue
        records = read_segment(seg.path, seg.id)
        stats = flush_segment(
            wal.name, seg.id, records, root, partition=partition, redact=redact, recent=recent,
            decoded=wal.decoded(seg.id),
        )  # fmt: skip
        wal.mark_flushed(seg.id)
        total.add(stats)
        log.info("checkpointed WAL %s segment %d: %s", wal.name, seg.id, stats)
    return total


def clean_crashed_writes(root: str | Path) -> int:
    """Remove temporary files of writes a crash interrupted (they were never visible)."""
    root = Path(root)
    return remove_stale_temps(root / "readings") + remove_stale_temps(root / DEAD_LETTERS)


class BackgroundFlusher:
    """A thread that seals the active segment every ``interval_s`` and checkpoints it."""

    def __init__(
        self,
        wal: WriteAheadLog,
        root: str | Path,
        *,
        interval_s: float = 5.0,
        partition: Partitioning = DAILY,
        redact: Redactor | None = None,
    ) -> None:
        self.wal, self.root, self.interval_s = wal, Path(root), interval_s
        self.partition, self.redact = partition, redact
        self.stats = FlushStats()
        self.errors = 0
        self._recent = RecentKeys()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wal-flusher", daemon=True)

    def start(self) -> BackgroundFlusher:
        clean_crashed_writes(self.root)
        self._thread.start()
        return self

    def flush_now(self) -> FlushStats:
        """Seal the active segment and checkpoint everything sealed; return the counts."""
        with self._flush_lock:
            stats = flush_to_store(
                self.wal,
                self.root,
                partition=self.partition,
                redact=self.redact,
                recent=self._recent,
                include_active=True,
            )
            self.stats.add(stats)
        return stats

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.flush_now()
            except Exception:  # keep the service alive; the segment stays and is retried
                self.errors += 1
                log.exception("WAL checkpoint failed; will retry in %.1f s", self.interval_s)

    def stop(self, *, final_flush: bool = True) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        if final_flush:
            self.flush_now()
