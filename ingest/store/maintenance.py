"""Store upkeep: compaction (small files into large, sorted, deduplicated ones) and retention.

Compaction merges a partition's small files (checkpoint files from the WAL, one per segment)
into files of ~``target_bytes``, sorted by asset then time and deduplicated, with row groups
sized for reading. The new file is published before the old ones are deleted: a crash in
between leaves duplicates that readers drop and the next compaction removes, never a loss. A
WAL checkpoint file whose segment is not yet marked flushed is left alone (the checkpointer may
still skip on its name).

Retention deletes whole partitions of raw data (vibration waveforms, camera images) older than
``raw_retention_days``, then the oldest ones beyond ``raw_budget_gb``; scalar readings, scores
and dead letters are kept.
"""

from __future__ import annotations

import dataclasses
import fcntl
import logging
import re
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ingest.schema import (
    DEAD_LETTER_SCHEMA,
    DEDUP_KEY,
    READING_SCHEMAS,
    SCORES_SCHEMA,
    parquet_options,
)
from ingest.store.layout import (
    DEAD_LETTERS,
    NS_PER_DAY,
    SCORES,
    WAL,
    data_files,
    fsync_dir,
    modality_dir,
    new_file_name,
    partition_span,
    write_table_durably,
)
from ingest.store.reader import deduplicate
from ingest.store.sink import sort_rows
from ingest.store.wal import read_checkpoint
from plant.config import StoreConfig
from plant.readings import Modality

log = logging.getLogger(__name__)

RAW_MODALITIES = (Modality.VIBRATION, Modality.CAMERA)
_WAL_FILE = re.compile(r"^wal-(.+)-(\d{16})\.parquet$")
_DEAD_FILE = re.compile(r"^(.+)-(\d{16})\.parquet$")
ROW_GROUP_BYTES = 64 << 20


@dataclasses.dataclass(slots=True)
class CompactionReport:
    partitions: int = 0
    files_in: int = 0
    files_out: int = 0
    rows_in: int = 0
    rows_out: int = 0  # fewer than rows_in by the duplicates dropped


@dataclasses.dataclass(slots=True)
class RetentionReport:
    partitions_deleted: list[str] = dataclasses.field(default_factory=list)
    bytes_deleted: int = 0
    raw_bytes_kept: int = 0


def _settled(path: Path, root: Path, base: Path) -> bool:
    """False for a checkpoint file whose segment is not yet marked flushed: its log's retry
    skips on the file's name, so merging it away now would write its rows twice."""
    m = _WAL_FILE.match(path.name)
    if m is not None:
        return int(m.group(2)) <= read_checkpoint(root / WAL / m.group(1))
    m = _DEAD_FILE.match(path.name)
    if m is not None and base == root / DEAD_LETTERS:  # ingest.deadletter.DeadLetterLog's files
        return int(m.group(2)) <= read_checkpoint(root / "_ingest" / DEAD_LETTERS / m.group(1))
    return True


def _tables(root: Path) -> list[tuple[Path, pa.Schema, tuple[str, ...] | None]]:
    out: list[tuple[Path, pa.Schema, tuple[str, ...] | None]] = [
        (modality_dir(root, m), READING_SCHEMAS[m], DEDUP_KEY) for m in Modality
    ]
    out.append((root / SCORES, SCORES_SCHEMA, ("asset", "ts_ns", "model_version")))
    out.append((root / DEAD_LETTERS, DEAD_LETTER_SCHEMA, None))
    return out


def compact(root: str | Path, *, target_bytes: int = 256 << 20) -> CompactionReport:
    """Merge each partition's small files (see the module docstring); return the counts."""
    root = Path(root)
    report = CompactionReport()
    for base, schema, key in _tables(root):
        parts: dict[str, list[Path]] = {}
        for part, path in data_files(base):
            if path.stat().st_size < target_bytes // 2 and _settled(path, root, base):
                parts.setdefault(part, []).append(path)
        for part, files in parts.items():
            for batch in _bins(files, target_bytes):
                if len(batch) > 1:
                    _merge(base / part, batch, schema, key, report)
                    report.partitions += 1
    log.info("compaction: %s", report)
    return report


def _bins(files: list[Path], target_bytes: int) -> list[list[Path]]:
    bins: list[list[Path]] = [[]]
    size = 0
    for f in sorted(files):
        n = f.stat().st_size
        if bins[-1] and size + n > target_bytes:
            bins.append([])
            size = 0
        bins[-1].append(f)
        size += n
    return bins


def _merge(
    directory: Path,
    files: list[Path],
    schema: pa.Schema,
    key: tuple[str, ...] | None,
    report: CompactionReport,
) -> None:
    table = pa.concat_tables([pq.read_table(f, schema=schema) for f in files])
    merged = deduplicate(table, key) if key else table
    time_col = "arrival_ns" if "arrival_ns" in schema.names else "ts_ns"
    merged = sort_rows(merged, (schema.names[0], time_col))
    per_row = max(1, merged.nbytes // max(1, merged.num_rows))
    rows = int(min(1 << 17, max(64, ROW_GROUP_BYTES // per_row)))
    final = directory / new_file_name("compact")
    write_table_durably(merged, final, row_group_rows=rows, options=parquet_options(schema))
    for f in files:
        f.unlink()
    fsync_dir(directory)
    report.files_in += len(files)
    report.files_out += 1
    report.rows_in += table.num_rows
    report.rows_out += merged.num_rows


def _partition_dirs(base: Path) -> list[tuple[int, int, Path, int]]:
    """(start, end, dir, bytes) of each partition directory holding files, oldest first."""
    sizes: dict[str, int] = {}
    for part, path in data_files(base):
        sizes[part] = sizes.get(part, 0) + path.stat().st_size
    return sorted((*partition_span(p), base / p, n) for p, n in sizes.items())


def apply_retention(root: str | Path, now_ns: int, config: StoreConfig) -> RetentionReport:
    """Delete raw partitions past ``raw_retention_days`` or beyond ``raw_budget_gb``."""
    root = Path(root)
    report = RetentionReport()
    cutoff = now_ns - int(config.raw_retention_days * NS_PER_DAY)
    raw = sorted(p for m in RAW_MODALITIES for p in _partition_dirs(modality_dir(root, m)))
    kept = []
    for start, end, path, size in raw:
        if end <= cutoff:
            _delete(path, size, root, report)
        else:
            kept.append((start, end, path, size))
    total = sum(p[3] for p in kept)
    if config.raw_budget_gb is not None:
        budget = int(config.raw_budget_gb * 1e9)
        for _start, end, path, size in kept:  # oldest first; never a partition still open
            if total <= budget or end > now_ns:
                continue
            _delete(path, size, root, report)
            total -= size
        if total > budget:
            log.warning("raw data %d B exceeds the %d B budget in open partitions", total, budget)
    report.raw_bytes_kept = total
    return report


def _delete(path: Path, size: int, root: Path, report: RetentionReport) -> None:
    shutil.rmtree(path)
    for parent in (path.parent, path.parent.parent):  # an emptied date= directory goes too
        if parent.name.startswith("date=") and not any(parent.iterdir()):
            parent.rmdir()
    report.partitions_deleted.append(path.relative_to(root).as_posix())
    report.bytes_deleted += size
    log.info("retention: deleted %s (%d bytes)", path, size)


UPKEEP_LOCK = "_ingest/upkeep.lock"


@dataclasses.dataclass(slots=True)
class UpkeepReport:
    compaction: CompactionReport
    retention: RetentionReport


def run_upkeep(
    root: str | Path, config: StoreConfig, now_ns: int | None = None
) -> UpkeepReport | None:
    """Compact, then apply retention, if no other process is doing it (a file lock in the
    store: several ingest workers share one store). None when another holds the lock."""
    root = Path(root)
    lock_path = root / UPKEEP_LOCK
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as lock:
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("store upkeep: another process is at it; skipped")
            return None
        try:
            compaction = compact(root, target_bytes=int(config.compact_target_mb * (1 << 20)))
            retention = apply_retention(root, now_ns or time.time_ns(), config)
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
    return UpkeepReport(compaction, retention)


class StoreUpkeep:
    """A thread running :func:`run_upkeep` every ``config.upkeep_interval_s`` (first run after
    one interval). Failures are logged and counted, never fatal: upkeep is not on the path that
    makes readings durable."""

    def __init__(
        self,
        root: str | Path,
        config: StoreConfig,
        *,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.root, self.config, self.clock_ns = Path(root), config, clock_ns
        self.runs = 0
        self.errors = 0
        self.last: UpkeepReport | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="store-upkeep", daemon=True)

    def start(self) -> StoreUpkeep:
        if self.config.upkeep_interval_s > 0:
            self._thread.start()
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self._stop.wait(self.config.upkeep_interval_s):
            try:
                report = run_upkeep(self.root, self.config, self.clock_ns())
            except Exception:
                self.errors += 1
                log.exception("store upkeep failed; retrying next interval")
                continue
            if report is not None:
                self.runs += 1
                self.last = report
