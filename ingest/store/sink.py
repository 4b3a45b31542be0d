"""Partitioned Parquet files kept open across row groups, published atomically when closed.

One :class:`PartitionSink` holds one kind of table (one modality's readings, scores or dead
letters). Each ``append`` adds one row group per partition it touches, sorted by asset then time;
a file stays open (under a hidden temporary name) until it reaches ``file_bytes``, until too many
partitions are open, or until ``close``: then it is fsynced and renamed into place.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ingest.schema import parquet_options
from ingest.store.layout import new_file_name, publish_file, temp_path

log = logging.getLogger(__name__)


def sort_rows(table: pa.Table, keys: tuple[str, ...] = ("asset", "ts_ns")) -> pa.Table:
    """``table`` sorted by ``keys`` (dictionary columns compared by their string values)."""
    plain = {}
    for k in keys:
        col = table.column(k)
        plain[k] = pc.cast(col, col.type.value_type) if pa.types.is_dictionary(col.type) else col
    order = pc.sort_indices(pa.table(plain), [(k, "ascending") for k in keys])
    return table.take(order)


@dataclasses.dataclass(slots=True)
class _OpenFile:
    writer: pq.ParquetWriter
    tmp: Path
    final: Path
    rows: int = 0


class PartitionSink:
    """Row groups into per-partition files under ``base``; see the module docstring.

    With ``file_name`` set, each partition gets exactly that one file name and a partition whose
    file already exists is skipped (its rows are already durable): this is what makes replaying a
    WAL segment after a crash idempotent.
    """

    def __init__(
        self,
        base: Path,
        schema: pa.Schema,
        *,
        sort_keys: tuple[str, ...] = ("asset", "ts_ns"),
        file_name: str | None = None,
        file_bytes: int = 512 << 20,
        max_open: int = 16,
        prefix: str = "part",
    ) -> None:
        self.base = Path(base)
        self.schema = schema
        self.sort_keys = sort_keys
        self.file_name = file_name
        self.file_bytes = file_bytes
        self.max_open = max_open
        self.prefix = prefix
        self._options = parquet_options(schema)
        self._open: dict[str, _OpenFile] = {}
        self._skipped: set[str] = set()
        self.published: list[Path] = []
        self.rows_skipped = 0

    def append(self, table: pa.Table, keys: np.ndarray, *, presorted: bool = False) -> None:
        """Write ``table``'s rows, row ``i`` into partition ``keys[i]``; one row group each.

        ``presorted``: rows are already ordered by (partition key, sort keys), so each
        partition is a zero-copy slice (no take: that copy costs as much as the write itself).
        """
        if table.num_rows == 0:
            return
        if presorted:
            _, first = np.unique(keys, return_index=True)
            for a, b in itertools.pairwise([*sorted(first.tolist()), table.num_rows]):
                self._append_partition(str(keys[a]), table.slice(a, b - a))
            return
        uniq = np.unique(keys)
        for key in uniq:
            part = table if len(uniq) == 1 else table.filter(pa.array(keys == key))
            self._append_partition(str(key), sort_rows(part, self.sort_keys))

    def _append_partition(self, key: str, part: pa.Table) -> None:
        if key in self._skipped:
            self.rows_skipped += part.num_rows
            return
        f = self._open.get(key) or self._start(key)
        if f is None:
            self.rows_skipped += part.num_rows
            return
        f.writer.write_table(part, row_group_size=part.num_rows)
        f.rows += part.num_rows
        if self.file_name is None and f.tmp.stat().st_size >= self.file_bytes:
            self._finish(key)

    def _start(self, key: str) -> _OpenFile | None:
        final = self.base / key / (self.file_name or new_file_name(self.prefix))
        if self.file_name is not None and final.exists():
            log.info("skipping %s: already written", final)
            self._skipped.add(key)
            return None
        if len(self._open) >= self.max_open:
            self._finish(next(iter(self._open)))  # the oldest open partition
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_path(final)
        writer = pq.ParquetWriter(tmp, self.schema, **self._options)
        f = self._open[key] = _OpenFile(writer, tmp, final)
        return f

    def _finish(self, key: str) -> None:
        f = self._open.pop(key)
        f.writer.close()
        publish_file(f.tmp, f.final)
        self.published.append(f.final)
        log.debug("published %s (%d rows)", f.final, f.rows)

    def close(self) -> None:
        """Publish every open file (durable: fsync + rename + directory fsync)."""
        errors = []
        for key in list(self._open):
            try:
                self._finish(key)
            except Exception as exc:  # publish the others; report the first failure
                errors.append(exc)
        if errors:
            raise errors[0]

    def abort(self) -> None:
        """Drop unpublished files (used when the caller failed mid-way)."""
        for f in self._open.values():
            try:
                f.writer.close()
            finally:
                f.tmp.unlink(missing_ok=True)
        self._open.clear()
