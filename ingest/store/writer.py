"""Writing the store: readings (StoreWriter), scores (ScoreWriter), dead letters, labels.

``plantwatch generate`` and the WAL checkpointer write through :class:`StoreWriter`, so an offline
dataset and a live one have the same layout (see :mod:`ingest.store.layout`)::

    with StoreWriter(root) as w:
        w.write(readings)          # buffered; a row group per ~flush_rows rows per partition
    # on exit every file is fsynced and renamed into place
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ingest.schema import (
    DEAD_LETTER_SCHEMA,
    LABELS_SCHEMA,
    READING_SCHEMAS,
    SCORES_SCHEMA,
    parquet_options,
    readings_to_table,
)
from ingest.store.layout import (
    DEAD_LETTERS,
    LABELS,
    LABELS_FILE,
    SCORES,
    Partitioning,
    modality_dir,
    partition_keys,
    write_table_durably,
)
from ingest.store.records import (
    DeadLetter,
    dead_letters_to_table,
    labels_to_table,
    scores_to_table,
    table_to_labels,
)
from ingest.store.sink import PartitionSink
from plant.events import HealthEvent
from plant.labels import FaultEpisode
from plant.readings import CameraImage, Modality, Reading, VibrationSnapshot

log = logging.getLogger(__name__)

DAILY = Partitioning()
_SCALAR_ROW_BYTES = 128  # rough in-memory size of a scalar reading, for the byte threshold


def _row_bytes(r: Reading) -> int:
    if isinstance(r, VibrationSnapshot):
        return r.samples.nbytes
    if isinstance(r, CameraImage):
        return r.pixels.nbytes
    return _SCALAR_ROW_BYTES


class StoreWriter:
    """Readings into the Parquet store, partitioned by modality and date (or hour).

    ``flush_rows``/``flush_bytes``: a modality's buffer becomes one row group per partition when
    either is reached. ``file_name``: one fixed file name per partition, skipping partitions whose
    file exists (idempotent replays; used by the WAL checkpointer).
    """

    def __init__(
        self,
        root: str | Path,
        *,
        flush_rows: int = 2048,
        flush_bytes: int = 64 << 20,
        partition: Partitioning = DAILY,
        file_bytes: int = 512 << 20,
        file_name: str | None = None,
        prefix: str = "part",
    ) -> None:
        if flush_rows < 1 or flush_bytes < 1:
            raise ValueError(f"flush_rows {flush_rows} and flush_bytes {flush_bytes} must be >= 1")
        self.root = Path(root)
        self.flush_rows = flush_rows
        self.flush_bytes = flush_bytes
        self.partition = partition
        self._sinks = {
            m: PartitionSink(
                modality_dir(self.root, m),
                READING_SCHEMAS[m],
                file_name=file_name,
                file_bytes=file_bytes,
                prefix=prefix,
            )
            for m in Modality
        }
        self._buf: dict[Modality, list[Reading]] = {m: [] for m in Modality}
        self._ingest: dict[Modality, list[int]] = {m: [] for m in Modality}
        self._bytes: dict[Modality, int] = dict.fromkeys(Modality, 0)
        self.rows_written = 0
        self._closed = False

    def write(self, readings: Iterable[Reading], ingest_ns: int | None = None) -> int:
        """Buffer ``readings`` (any modalities); returns how many. ``ingest_ns``: default now."""
        if self._closed:
            raise RuntimeError("StoreWriter is closed")
        now = time.time_ns() if ingest_ns is None else int(ingest_ns)
        n = 0
        for r in readings:
            m = r.modality
            self._buf[m].append(r)
            self._ingest[m].append(now)
            self._bytes[m] += _row_bytes(r)
            n += 1
            if len(self._buf[m]) >= self.flush_rows or self._bytes[m] >= self.flush_bytes:
                self._write_group(m)
        return n

    def write_with_ingest_ns(self, readings: Sequence[Reading], ingest_ns: Sequence[int]) -> int:
        """Like :meth:`write`, with each reading's own ingest time (e.g. its arrival time)."""
        if len(readings) != len(ingest_ns):
            raise ValueError(f"{len(readings)} readings but {len(ingest_ns)} ingest times")
        if self._closed:
            raise RuntimeError("StoreWriter is closed")
        for r, t in zip(readings, ingest_ns, strict=True):
            m = r.modality
            self._buf[m].append(r)
            self._ingest[m].append(int(t))
            self._bytes[m] += _row_bytes(r)
            if len(self._buf[m]) >= self.flush_rows or self._bytes[m] >= self.flush_bytes:
                self._write_group(m)
        return len(readings)

    def _write_group(self, m: Modality) -> None:
        rows, ingest = self._buf[m], self._ingest[m]
        if not rows:
            return
        keys = self.partition.keys(m, np.fromiter((r.header.ts_ns for r in rows), np.int64))
        order = sorted(
            range(len(rows)), key=lambda i: (keys[i], rows[i].header.asset, rows[i].header.ts_ns)
        )  # sorted before the table is built: sorting a table of waveforms copies them
        table = readings_to_table(m, [rows[i] for i in order], [ingest[i] for i in order])
        self._sinks[m].append(table, keys[order], presorted=True)
        self.rows_written += len(rows)
        self._buf[m], self._ingest[m], self._bytes[m] = [], [], 0

    def flush(self) -> list[Path]:
        """Write every buffered row and publish every open file; return the files published."""
        for m in Modality:
            self._write_group(m)
        published: list[Path] = []
        for sink in self._sinks.values():
            sink.close()
            published += sink.published
            sink.published = []
        return published

    @property
    def rows_skipped(self) -> int:
        """Rows not written because their partition's fixed-name file already existed."""
        return sum(s.rows_skipped for s in self._sinks.values())

    def close(self) -> None:
        if not self._closed:
            self.flush()
            self._closed = True

    def abort(self) -> None:
        """Forget buffered rows and drop unpublished files (nothing half-written stays)."""
        for sink in self._sinks.values():
            sink.abort()
        self._buf = {m: [] for m in Modality}
        self._closed = True

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()  # what was written before an error is still kept, durably


class _TableWriter:
    """Rows of one non-reading table partitioned by date of ``time_column``."""

    def __init__(
        self,
        root: str | Path,
        kind: str,
        schema: pa.Schema,
        time_column: str,
        file_name: str | None = None,
    ) -> None:
        self.root = Path(root)
        self.time_column = time_column
        self._sink = PartitionSink(
            self.root / kind, schema, sort_keys=(schema.names[0], time_column), file_name=file_name
        )

    @property
    def rows_skipped(self) -> int:
        return self._sink.rows_skipped

    def _append(self, table: pa.Table) -> None:
        ts = table.column(self.time_column).to_numpy()
        self._sink.append(table, partition_keys(ts, hourly=False))

    def flush(self) -> list[Path]:
        self._sink.close()
        published, self._sink.published = self._sink.published, []
        return published

    close = flush

    def __enter__(self) -> _TableWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ScoreWriter(_TableWriter):
    """Health events (the scorer's output) into ``<root>/scores``; each ``write`` a row group."""

    def __init__(self, root: str | Path, *, file_name: str | None = None) -> None:
        super().__init__(root, SCORES, SCORES_SCHEMA, "ts_ns", file_name)

    def write(self, events: Sequence[HealthEvent]) -> None:
        if events:
            self._append(scores_to_table(events))


class DeadLetterWriter(_TableWriter):
    """Messages that could not be stored as readings, into ``<root>/dead_letters``."""

    def __init__(self, root: str | Path, *, file_name: str | None = None) -> None:
        super().__init__(root, DEAD_LETTERS, DEAD_LETTER_SCHEMA, "arrival_ns", file_name)

    def write(self, letters: Sequence[DeadLetter]) -> None:
        if letters:
            self._append(dead_letters_to_table(letters))


def write_labels(root: str | Path, episodes: Sequence[FaultEpisode]) -> Path:
    """Replace the store's ground truth with ``episodes`` (atomically)."""
    table = labels_to_table(sorted(episodes, key=lambda e: (e.asset, e.onset_ns)))
    final = Path(root) / LABELS / LABELS_FILE
    return write_table_durably(
        table, final, row_group_rows=65_536, options=parquet_options(LABELS_SCHEMA)
    )


def read_labels(root: str | Path) -> list[FaultEpisode]:
    """The store's fault episodes (empty when the store has no labels)."""
    path = Path(root) / LABELS / LABELS_FILE
    if not path.exists():
        return []
    return table_to_labels(pq.read_table(path))


__all__ = [
    "DeadLetterWriter",
    "ScoreWriter",
    "StoreWriter",
    "read_labels",
    "write_labels",
]
