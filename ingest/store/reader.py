"""Reading the store: Parquet files plus what is still in the write-ahead log, deduplicated.

The WAL is read before the Parquet files: a record checkpointed (written to Parquet and deleted
from the WAL) between the two reads is then seen at least once, and deduplication by
(asset, sensor, epoch, seq) removes the second sighting. Time bounds are inclusive.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from ingest.schema import (
    DEAD_LETTER_SCHEMA,
    DEDUP_KEY,
    READING_SCHEMAS,
    SCORES_SCHEMA,
    readings_to_table,
    table_to_readings,
)
from ingest.store.layout import (
    DEAD_LETTERS,
    SCORES,
    WAL,
    data_files,
    modality_dir,
    partition_span,
)
from ingest.store.records import table_to_scores
from ingest.store.sink import sort_rows
from ingest.store.wal_view import WalView
from ingest.store.writer import read_labels
from plant.events import HealthEvent
from plant.labels import FaultEpisode
from plant.readings import Modality, Reading

AssetFilter = str | Sequence[str] | None


def _assets(asset: AssetFilter) -> set[str] | None:
    if asset is None:
        return None
    return {asset} if isinstance(asset, str) else set(asset)


READ_RETRY_S = 10.0  # how long a read lists again while store upkeep removes files under it


def _files(base: Path, start_ns: int | None, end_ns: int | None) -> list[str]:
    """Parquet files under ``base`` whose partition can hold times in [start_ns, end_ns]."""
    out = []
    for key, path in data_files(base):
        lo, hi = partition_span(key)
        if (end_ns is not None and lo > end_ns) or (start_ns is not None and hi <= start_ns):
            continue
        out.append(str(path))
    return out


def _filter(
    time_col: str, start_ns: int | None, end_ns: int | None, assets: set[str] | None
) -> ds.Expression | None:
    expr = None
    parts = []
    if start_ns is not None:
        parts.append(pc.field(time_col) >= start_ns)
    if end_ns is not None:
        parts.append(pc.field(time_col) <= end_ns)
    if assets is not None:
        parts.append(pc.field("asset").isin(sorted(assets)))
    for p in parts:
        expr = p if expr is None else expr & p
    return expr


def _read_parquet(
    base: Path, schema: pa.Schema, time_col: str, start_ns, end_ns, assets, columns=None
) -> pa.Table:
    deadline = time.monotonic() + READ_RETRY_S
    for attempt in itertools.count():
        files = _files(base, start_ns, end_ns)
        if not files:
            empty = schema.empty_table()
            return empty if columns is None else empty.select(columns)
        try:
            dataset = ds.dataset(files, schema=schema, format="parquet")
            expr = _filter(time_col, start_ns, end_ns, assets)
            return dataset.to_table(columns=columns, filter=expr)
        except FileNotFoundError:
            # compaction or retention replaced a file between listing and reading: the rows
            # are in the new file (compaction publishes it before deleting), so list again;
            # back off a little, so that back-to-back compactions cannot starve the reader
            if time.monotonic() > deadline:
                raise
            time.sleep(min(0.001 * 2**attempt, 0.05))
    raise AssertionError("unreachable")


def _plain(table: pa.Table, keys: Sequence[str]) -> pa.Table:
    cols = {}
    for k in keys:  # chunks may carry different dictionaries: work on plain values
        col = table.column(k)
        cols[k] = pc.cast(col, col.type.value_type) if pa.types.is_dictionary(col.type) else col
    cols["_row"] = pa.array(np.arange(table.num_rows, dtype=np.int64))
    return pa.table(cols)


def _first_rows(plain: pa.Table, keys: Sequence[str]) -> np.ndarray:
    grouped = plain.group_by(list(keys), use_threads=False).aggregate([("_row", "min")])
    return np.sort(grouped.column("_row_min").to_numpy())


def deduplicate(table: pa.Table, keys: Sequence[str] = DEDUP_KEY) -> pa.Table:
    """``table`` with one row per key (the first), in the original order of those rows."""
    if table.num_rows == 0:
        return table
    first = _first_rows(_plain(table, keys), keys)
    return table if first.size == table.num_rows else table.take(pa.array(first))


def tidy(table: pa.Table, order: Sequence[str] = ("asset", "ts_ns", "sensor")) -> pa.Table:
    """Deduplicated by (asset, sensor, epoch, seq) and sorted by ``order``, in one take (a take
    copies every waveform, so it is skipped when the rows are already unique and in order)."""
    if table.num_rows == 0:
        return table
    keys = list(dict.fromkeys([*DEDUP_KEY, *order]))
    plain = _plain(table, keys)
    first = _first_rows(plain, DEDUP_KEY)
    sub = plain.take(pa.array(first))
    rows = first[pc.sort_indices(sub, [(k, "ascending") for k in order]).to_numpy()]
    if rows.size == table.num_rows and (rows == np.arange(rows.size)).all():
        return table
    return table.take(pa.array(rows))


class StoreReader:
    """Reads a store written by :class:`ingest.store.writer.StoreWriter` and the ingest WAL.

    ``wal_dirs``: the WALs whose unflushed records to include (default: every WAL under
    ``<root>/_wal/``, where ``plantwatch ingest`` keeps its log).
    """

    def __init__(self, root: str | Path, *, wal_dirs: Sequence[str | Path] | None = None) -> None:
        self.root = Path(root)
        self._wal_dirs = None if wal_dirs is None else [Path(p) for p in wal_dirs]
        self._wal = WalView()

    def wal_dirs(self) -> list[Path]:
        if self._wal_dirs is not None:
            return self._wal_dirs
        base = self.root / WAL
        return sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else []

    # ------------------------------------------------------------------------ readings

    def read(
        self,
        modality: Modality | str,
        asset: AssetFilter = None,
        start_ns: int | None = None,
        end_ns: int | None = None,
        *,
        include_wal: bool = True,
        tidy_rows: bool = True,
    ) -> pa.Table:
        """Readings of ``modality`` (optionally of some assets, within [start_ns, end_ns]),
        deduplicated and sorted by asset then time. ``tidy_rows=False``: as stored, possibly
        with duplicates and in any order (cheaper, for callers that deduplicate themselves)."""
        m = Modality(modality)
        assets = _assets(asset)
        parts = [self._wal_table(m, assets, start_ns, end_ns)] if include_wal else []
        schema = READING_SCHEMAS[m]
        parts.append(
            _read_parquet(modality_dir(self.root, m), schema, "ts_ns", start_ns, end_ns, assets)
        )
        table = pa.concat_tables([p for p in parts if p.num_rows] or [schema.empty_table()])
        return tidy(table) if tidy_rows else table

    def readings(
        self,
        modality: Modality | str,
        asset: AssetFilter = None,
        start_ns: int | None = None,
        end_ns: int | None = None,
        *,
        include_wal: bool = True,
    ) -> list[Reading]:
        """:meth:`read`, as reading objects."""
        return table_to_readings(
            self.read(modality, asset, start_ns, end_ns, include_wal=include_wal)
        )

    def _wal_table(self, m: Modality, assets: set[str] | None, start_ns, end_ns) -> pa.Table:
        found: list[Reading] = []
        arrivals: list[int] = []
        for r, arrival in self._wal.readings(self.wal_dirs(), m):
            h = r.header
            if assets is not None and h.asset not in assets:
                continue
            if (start_ns is None or h.ts_ns >= start_ns) and (end_ns is None or h.ts_ns <= end_ns):
                found.append(r)
                arrivals.append(arrival)
        return readings_to_table(m, found, arrivals)

    def assets(self) -> list[str]:
        """Every asset with at least one reading, sorted."""
        names: set[str] = set()
        for m in Modality:
            files = _files(modality_dir(self.root, m), None, None)
            if files:
                col = ds.dataset(files, schema=READING_SCHEMAS[m]).to_table(columns=["asset"])
                names.update(pc.unique(pc.cast(col.column(0), pa.string())).to_pylist())
        for m in Modality:
            names.update(r.header.asset for r, _ in self._wal.readings(self.wal_dirs(), m))
        return sorted(names)

    def time_range(self, modality: Modality | str | None = None) -> tuple[int, int] | None:
        """(first, last) reading time over the store (Parquet statistics) and the WAL."""
        mods = list(Modality) if modality is None else [Modality(modality)]
        lo, hi = [], []
        for m in mods:
            for path in _files(modality_dir(self.root, m), None, None):
                meta = pq.ParquetFile(path).metadata
                idx = meta.schema.to_arrow_schema().get_field_index("ts_ns")
                for g in range(meta.num_row_groups):
                    st = meta.row_group(g).column(idx).statistics
                    if st is not None and st.has_min_max:
                        lo.append(st.min)
                        hi.append(st.max)
            wal = self._wal_table(m, None, None, None).column("ts_ns").to_numpy()
            if wal.size:
                lo.append(int(wal.min()))
                hi.append(int(wal.max()))
        return (int(min(lo)), int(max(hi))) if lo else None

    # ------------------------------------------------------------------------ other tables

    def labels(self) -> list[FaultEpisode]:
        return read_labels(self.root)

    def scores(
        self, asset: AssetFilter = None, start_ns: int | None = None, end_ns: int | None = None
    ) -> pa.Table:
        """Health events (scorer output) as a table, sorted by asset then time."""
        t = _read_parquet(
            self.root / SCORES, SCORES_SCHEMA, "ts_ns", start_ns, end_ns, _assets(asset)
        )
        return sort_rows(t, ("asset", "ts_ns"))

    def health_events(
        self, asset: AssetFilter = None, start_ns: int | None = None, end_ns: int | None = None
    ) -> list[HealthEvent]:
        return table_to_scores(self.scores(asset, start_ns, end_ns))

    def dead_letters(self, start_ns: int | None = None, end_ns: int | None = None) -> pa.Table:
        """Messages ingest could not store as readings, with the reason, by arrival time."""
        t = _read_parquet(
            self.root / DEAD_LETTERS, DEAD_LETTER_SCHEMA, "arrival_ns", start_ns, end_ns, None
        )
        return t.sort_by("arrival_ns")
