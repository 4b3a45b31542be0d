"""Checkpointing the WAL into Parquet: exactly once across crashes, dead letters, and the reader
seeing what is still in the WAL."""

from __future__ import annotations

import time

import numpy as np
import pyarrow.dataset as ds

from ingest.store import (
    BackgroundFlusher,
    DeadLetter,
    DeadLetterWriter,
    StoreReader,
    WriteAheadLog,
    flush_to_store,
)
from ingest.store.checkpoint import clean_crashed_writes, flush_segment
from ingest.store.maintenance import compact
from ingest.store.wal import read_segment
from plant.codec import encode
from plant.readings import (
    ContextReading,
    Header,
    MachineState,
    Modality,
    ThermalReading,
    VibrationSnapshot,
)
from plant.topics import reading_topic

T0 = 1_763_900_000_000_000_000
S = 1_000_000_000


def _readings(n: int, asset: str = "P-101") -> list:
    out = []
    for i in range(n):
        t = T0 + i * 10 * S
        out.append(ThermalReading(Header(asset, "temp", t, 1, i), {"de": 40.0 + i, "nde": 38.5}))
        out.append(
            ContextReading(Header(asset, "ctx", t, 1, i), 24.5, 0.8, 20.0 + i, MachineState.RUNNING)
        )
        if i % 3 == 0:
            samples = np.full((3, 64), i, dtype=np.float32)
            out.append(
                VibrationSnapshot(Header(asset, "vib", t, 1, i), 12800.0, ("x", "y", "z"), samples)
            )
    return out


def _append(wal: WriteAheadLog, readings: list) -> None:
    for r in readings:
        h = r.header
        topic = reading_topic("demo", "area", h.asset, h.sensor, r.modality)
        wal.append(topic, encode(r), h.ts_ns + 3_000_000)
    wal.sync()


def _rows_on_disk(root, modality: Modality) -> int:
    base = root / "readings" / f"modality={modality.value}"
    return ds.dataset(base, partitioning="hive").count_rows() if base.exists() else 0


def test_flush_moves_segments_into_parquet_and_deletes_them(tmp_path) -> None:
    rs = _readings(12)
    wal = WriteAheadLog(tmp_path / "_wal" / "w0")
    _append(wal, rs)
    stats = flush_to_store(wal, tmp_path, include_active=True)
    assert stats.readings == len(rs) and stats.duplicates == 0 and stats.dead_letters == 0
    assert [s.sealed for s in wal.segments()] == [False]  # only the new, empty active one
    assert list(wal.replay()) == []
    reader = StoreReader(tmp_path)
    for m in (Modality.THERMAL, Modality.CONTEXT, Modality.VIBRATION):
        expected = [r for r in rs if r.modality is m]
        assert reader.readings(m) == expected
        assert _rows_on_disk(tmp_path, m) == len(expected)
        assert reader.read(m).column("ingest_ns").to_pylist() == [
            r.header.ts_ns + 3_000_000 for r in expected
        ]


def test_a_crash_after_writing_parquet_before_the_checkpoint_duplicates_nothing(tmp_path) -> None:
    rs = _readings(9)
    wal = WriteAheadLog(tmp_path / "_wal" / "w0")
    _append(wal, rs)
    seg = wal.rotate()
    records = read_segment(wal.segments()[0].path, seg)
    # The crashed run wrote only the thermal partition file of this segment, then died.
    thermal_only = [r for r in records if r.topic.endswith("/thermal")]
    flush_segment(wal.name, seg, thermal_only, tmp_path)
    (tmp_path / "readings" / "modality=context" / ".torn.parquet.1234.tmp").parent.mkdir(
        parents=True
    )
    (tmp_path / "readings" / "modality=context" / ".torn.parquet.1234.tmp").write_bytes(b"PAR1")
    wal.close()

    wal = WriteAheadLog(tmp_path / "_wal" / "w0")  # the restarted service
    assert clean_crashed_writes(tmp_path) == 1
    stats = flush_to_store(wal, tmp_path)
    assert stats.skipped_existing == len(thermal_only)
    for m in (Modality.THERMAL, Modality.CONTEXT, Modality.VIBRATION):
        assert _rows_on_disk(tmp_path, m) == sum(r.modality is m for r in rs)
    again = flush_to_store(wal, tmp_path, include_active=True)  # nothing left to do
    assert again.readings == 0 and again.segments == 0


def test_redelivered_messages_are_stored_once(tmp_path) -> None:
    rs = _readings(6)
    wal = WriteAheadLog(tmp_path / "_wal" / "w0")
    _append(wal, rs + rs[:4])  # redelivery inside one segment
    first = flush_to_store(wal, tmp_path, include_active=True)
    _append(wal, rs[2:5])  # and in a later segment
    flush_to_store(wal, tmp_path, include_active=True)
    assert first.duplicates == 4
    assert sum(_rows_on_disk(tmp_path, m) for m in Modality) == len(rs)


def test_undecodable_records_become_dead_letters_with_their_reason(tmp_path) -> None:
    wal = WriteAheadLog(tmp_path / "_wal" / "w0")
    wal.append("plantwatch/v1/readings/demo/area/P-1/temp/thermal", b"{not json", 5)
    wal.append("not/a/plantwatch/topic", b"{}", 6)
    _append(wal, _readings(1))
    stats = flush_to_store(wal, tmp_path, include_active=True)
    assert stats.dead_letters == 2
    dead = StoreReader(tmp_path).dead_letters()
    assert dead.column("reason").to_pylist() == ["malformed", "bad_topic"]
    assert dead.column("payload").to_pylist() == [b"{not json", b"{}"]


def test_the_reader_returns_what_is_still_in_the_wal_without_duplicates(tmp_path) -> None:
    rs = _readings(10)
    wal = WriteAheadLog(tmp_path / "_wal" / "w0")
    _append(wal, rs[:12])
    flush_to_store(wal, tmp_path, include_active=True)
    _append(wal, rs[8:])  # overlaps what is already in Parquet
    reader = StoreReader(tmp_path)
    thermal = [r for r in rs if r.modality is Modality.THERMAL]
    assert reader.readings(Modality.THERMAL) == thermal
    assert reader.readings(Modality.THERMAL, include_wal=False) != thermal
    newest = thermal[-1].header
    assert reader.time_range(Modality.THERMAL) == (thermal[0].header.ts_ns, newest.ts_ns)
    assert reader.readings("thermal", "P-101", newest.ts_ns, newest.ts_ns) == thermal[-1:]
    assert reader.readings("thermal", "P-999") == []


def test_background_flusher_checkpoints_while_the_service_appends(tmp_path) -> None:
    wal = WriteAheadLog(tmp_path / "_wal" / "w0")
    flusher = BackgroundFlusher(wal, tmp_path, interval_s=0.05).start()
    try:
        rs = _readings(30)
        for k in range(0, len(rs), 7):
            _append(wal, rs[k : k + 7])
        deadline = time.monotonic() + 20
        while flusher.stats.readings < len(rs) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        flusher.stop()
    assert flusher.errors == 0
    assert sum(_rows_on_disk(tmp_path, m) for m in Modality) == len(rs)
    assert list(wal.replay()) == []


def test_compaction_leaves_files_of_unfinished_checkpoints_alone(tmp_path) -> None:
    rs = _readings(9)
    wal = WriteAheadLog(tmp_path / "_wal" / "w0")
    _append(wal, rs[:9])
    flush_to_store(wal, tmp_path, include_active=True)
    _append(wal, rs[9:])
    seg = wal.rotate()
    records = read_segment(wal.segments()[0].path, seg)
    flush_segment(wal.name, seg, records, tmp_path)  # written, but the checkpoint never was
    report = compact(tmp_path)
    assert report.files_in == 0  # one settled file per partition: nothing to merge yet
    thermal_dir = tmp_path / "readings" / "modality=thermal"
    assert len(list(thermal_dir.rglob("wal-w0-*.parquet"))) == 2
    stats = flush_to_store(wal, tmp_path)  # the retry still finds its files and skips them
    assert stats.readings == 0 and stats.skipped_existing == len(records)
    assert sum(_rows_on_disk(tmp_path, m) for m in Modality) == len(rs)
    assert compact(tmp_path).files_in == 6  # now settled: two files per modality merged
    assert sum(_rows_on_disk(tmp_path, m) for m in Modality) == len(rs)


def test_one_reader_follows_the_wal_as_it_grows_and_is_checkpointed(tmp_path) -> None:
    rs = [r for r in _readings(12) if r.modality is Modality.THERMAL]
    wal = WriteAheadLog(tmp_path / "_wal" / "w0")
    reader = StoreReader(tmp_path)
    assert reader.readings("thermal") == []
    _append(wal, rs[:4])
    assert reader.readings("thermal") == rs[:4]
    _append(wal, rs[4:9])  # appended after the first read: parsed from where it stopped
    assert reader.readings("thermal") == rs[:9]
    flush_to_store(wal, tmp_path, include_active=True)
    _append(wal, rs[9:])
    assert reader.readings("thermal") == rs
    assert reader.readings("thermal", include_wal=False) == rs[:9]
    assert reader.assets() == ["P-101"]


def test_compaction_leaves_dead_letter_log_files_alone_until_checkpointed(tmp_path) -> None:
    log_dir = tmp_path / "_ingest" / "dead_letters" / "w0"  # ingest.deadletter's log
    log_dir.mkdir(parents=True)
    for seg in (0, 1):
        with DeadLetterWriter(tmp_path, file_name=f"w0-{seg:016d}.parquet") as w:
            w.write([DeadLetter("t", b"x", T0 + seg, "malformed", "")])
    assert compact(tmp_path).files_in == 0
    (log_dir / "checkpoint").write_text("1\n")
    assert compact(tmp_path).files_in == 2
    assert StoreReader(tmp_path).dead_letters().num_rows == 2


def test_readings_the_appender_decoded_are_not_decoded_again(tmp_path) -> None:
    rs = [r for r in _readings(6) if r.modality is Modality.THERMAL]
    wal = WriteAheadLog(tmp_path / "_wal" / "w0")
    marked = [ThermalReading(r.header, {"de": -1.0}) for r in rs]  # tells the two paths apart
    for r, m in zip(rs, marked, strict=True):
        wal.append(reading_topic("d", "a", "P-101", "temp", r.modality), encode(r), 1, decoded=m)
    wal.sync()
    flush_to_store(wal, tmp_path, include_active=True)
    assert StoreReader(tmp_path).readings("thermal") == marked
    wal.append(reading_topic("d", "a", "P-101", "temp", "thermal"), encode(rs[0]), 1, decoded=None)
    wal.append(reading_topic("d", "a", "P-102", "temp", "thermal"), encode(rs[1]), 1, decoded=rs[1])
    seg = wal.rotate()
    assert wal.decoded(seg) == [None, rs[1]]  # a record that came without is decoded from disk
