"""Where things live in the store, and how a file becomes durable.

::

    <root>/readings/modality=<m>/date=<YYYY-MM-DD>[/hour=<HH>]/<name>.parquet
    <root>/scores/date=<YYYY-MM-DD>/<name>.parquet
    <root>/dead_letters/date=<YYYY-MM-DD>/<name>.parquet
    <root>/labels/episodes.parquet
    <root>/_wal/<wal-name>/<segment>.wal      (ignored by pyarrow dataset discovery: leading _)

Partitions are by modality and time only, never by asset (10,000 assets would be 10,000 tiny
files per day). Files are written under a hidden temporary name, fsynced, then renamed, so a
reader or a crash never sees a torn Parquet file.
"""

from __future__ import annotations

import dataclasses
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from plant.readings import Modality

READINGS = "readings"
SCORES = "scores"
DEAD_LETTERS = "dead_letters"
LABELS = "labels"
WAL = "_wal"
LABELS_FILE = "episodes.parquet"

NS_PER_HOUR = 3_600_000_000_000
NS_PER_DAY = 24 * NS_PER_HOUR
_PART_RE = re.compile(r"date=(\d{4}-\d{2}-\d{2})(?:/hour=(\d{2}))?$")


@dataclasses.dataclass(frozen=True, slots=True)
class Partitioning:
    """Time granularity per modality: daily by default, hourly for the listed modalities.

    At the benchmark plant's rates (10,000 assets) a day of vibration is ~220 GB: hourly
    partitions keep a partition to a few GB, so retention and time-range reads prune well.
    """

    hourly: frozenset[Modality] = frozenset()

    @classmethod
    def at_scale(cls) -> Partitioning:
        return cls(frozenset({Modality.VIBRATION, Modality.CAMERA}))

    def keys(self, modality: Modality | None, ts_ns: np.ndarray) -> np.ndarray:
        """The partition key ("date=.../hour=..") of each timestamp, as an array of str."""
        return partition_keys(ts_ns, hourly=modality in self.hourly)


def partition_keys(ts_ns: np.ndarray, *, hourly: bool) -> np.ndarray:
    ts = np.asarray(ts_ns, dtype=np.int64)
    unit = NS_PER_HOUR if hourly else NS_PER_DAY
    buckets = np.floor_divide(ts, unit)
    out = np.empty(ts.shape, dtype=object)
    for b in np.unique(buckets):  # few distinct buckets per batch: format once each
        out[buckets == b] = partition_key(int(b) * unit, hourly=hourly)
    return out


def partition_key(ts_ns: int, *, hourly: bool) -> str:
    day = np.datetime64(ts_ns, "ns").astype("datetime64[D]")
    if not hourly:
        return f"date={day}"
    hour = (ts_ns % NS_PER_DAY) // NS_PER_HOUR
    return f"date={day}/hour={hour:02d}"


def partition_span(key: str) -> tuple[int, int]:
    """[start, end) in UTC ns of the partition named ``key`` ("date=..[/hour=..]")."""
    m = _PART_RE.search(key)
    if m is None:
        raise ValueError(f"{key!r} is not a date=YYYY-MM-DD[/hour=HH] partition")
    start = int(np.datetime64(m.group(1), "D").astype("datetime64[ns]").astype(np.int64))
    if m.group(2) is None:
        return start, start + NS_PER_DAY
    start += int(m.group(2)) * NS_PER_HOUR
    return start, start + NS_PER_HOUR


def modality_dir(root: Path, modality: Modality) -> Path:
    return Path(root) / READINGS / f"modality={Modality(modality).value}"


def kind_dir(root: Path, kind: str, modality: Modality | None = None) -> Path:
    """The directory holding one kind of table: readings (of a modality), scores, dead letters."""
    if kind == READINGS:
        if modality is None:
            raise ValueError("readings need a modality")
        return modality_dir(root, modality)
    if kind not in (SCORES, DEAD_LETTERS):
        raise ValueError(f"unknown table kind {kind!r}; use readings, scores or dead_letters")
    return Path(root) / kind


def data_files(base: Path) -> Iterator[tuple[str, Path]]:
    """(partition key, file) of each finished Parquet file under ``base`` (hidden files skipped)."""
    if not base.is_dir():
        return
    for path in sorted(base.rglob("*.parquet")):
        if path.name.startswith((".", "_")):
            continue
        key = path.parent.relative_to(base).as_posix()
        if _PART_RE.search(key):
            yield key, path


def new_file_name(prefix: str = "part") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}.parquet"


def temp_path(final: Path) -> Path:
    return final.with_name(f".{final.name}.{uuid.uuid4().hex[:8]}.tmp")


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish_file(tmp: Path, final: Path) -> None:
    """Make ``tmp`` durable and visible as ``final`` in one atomic step (fsync, rename, fsync)."""
    fsync_file(tmp)
    os.replace(tmp, final)
    fsync_dir(final.parent)


def write_table_durably(
    table: pa.Table, final: Path, *, row_group_rows: int, options: dict
) -> Path:
    """Write ``table`` to ``final`` atomically; the directory is created if needed."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(final)
    try:
        pq.write_table(table, tmp, row_group_size=max(1, row_group_rows), **options)
        publish_file(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return final


def remove_stale_temps(base: Path) -> int:
    """Delete temporary files a crashed writer left under ``base``; return how many."""
    n = 0
    if base.is_dir():
        for path in base.rglob(".*.tmp"):
            path.unlink(missing_ok=True)
            n += 1
    return n
