"""The store's layout and reader: hive partitions readable by pyarrow.dataset, never per asset;
filters, deduplication, scores; compaction and retention."""

from __future__ import annotations

import numpy as np
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from ingest.store import Partitioning, ScoreWriter, StoreReader, StoreWriter
from ingest.store.maintenance import apply_retention, compact
from plant.config import StoreConfig
from plant.events import HealthEvent
from plant.readings import CameraImage, Header, Modality, ThermalReading, VibrationSnapshot

T0 = 1_763_856_000_000_000_000  # 2025-11-23T00:00:00Z
S = 1_000_000_000
H = 3600 * S


def _thermal(assets: int, steps: int, dt_ns: int = 60 * S, start: int = T0) -> list:
    return [
        ThermalReading(Header(f"A-{a:03d}", "temp", start + k * dt_ns, 1, k), {"de": float(a + k)})
        for k in range(steps)
        for a in range(assets)
    ]


def _vib(asset: str, ts: int, seq: int, n: int = 512) -> VibrationSnapshot:
    x = np.random.default_rng(seq).normal(size=(3, n)).astype(np.float32)
    return VibrationSnapshot(Header(asset, "vib", ts, 1, seq), 12800.0, ("x", "y", "z"), x)


def test_many_assets_share_files_partitioned_by_modality_and_date_only(tmp_path) -> None:
    rs = _thermal(assets=50, steps=60, dt_ns=30 * 60 * S)  # 30 h: two dates
    with StoreWriter(tmp_path, flush_rows=500) as w:
        w.write(rs)
    files = sorted((tmp_path / "readings").rglob("*.parquet"))
    parts = {f.parent.relative_to(tmp_path).as_posix() for f in files}
    assert parts == {
        "readings/modality=thermal/date=2025-11-23",
        "readings/modality=thermal/date=2025-11-24",
    }
    assert len(files) == 2  # one file per partition, row groups of <= 500 rows inside
    for f in files:
        pf = pq.ParquetFile(f)
        assert pf.metadata.num_row_groups > 1
        for g in range(pf.metadata.num_row_groups):
            assets = pf.read_row_group(g, columns=["asset"]).column(0).to_pylist()
            assert assets == sorted(assets)  # sorted by asset inside each row group


def test_the_dataset_is_readable_by_pyarrow_dataset_with_hive_partitions(tmp_path) -> None:
    rs = _thermal(assets=3, steps=50, dt_ns=H)
    with StoreWriter(tmp_path) as w:
        w.write(rs)
    dataset = ds.dataset(tmp_path / "readings" / "modality=thermal", partitioning="hive")
    table = dataset.to_table(filter=ds.field("date") == "2025-11-24")
    assert table.num_rows == 3 * 24
    assert set(table.column("asset").to_pylist()) == {"A-000", "A-001", "A-002"}
    whole = ds.dataset(tmp_path / "readings", partitioning="hive", exclude_invalid_files=True)
    assert whole.to_table(columns=["ts_ns", "modality"]).num_rows == len(rs)


def test_hourly_partitioning_for_waveforms_is_a_setting(tmp_path) -> None:
    rs = [_vib("P-1", T0 + k * 20 * 60 * S, k) for k in range(7)]  # 2 h 20 min
    with StoreWriter(tmp_path, partition=Partitioning.at_scale()) as w:
        w.write(rs)
    parts = sorted(
        p.parent.relative_to(tmp_path / "readings").as_posix()
        for p in (tmp_path / "readings").rglob("*.parquet")
    )
    assert parts == [f"modality=vibration/date=2025-11-23/hour={h:02d}" for h in range(3)]
    assert StoreReader(tmp_path).readings("vibration") == rs


def test_reader_filters_by_asset_list_and_inclusive_time_range(tmp_path) -> None:
    rs = _thermal(assets=4, steps=20)
    with StoreWriter(tmp_path, flush_rows=7) as w:
        w.write(rs)
    reader = StoreReader(tmp_path)
    lo, hi = T0 + 5 * 60 * S, T0 + 9 * 60 * S
    got = reader.readings("thermal", ["A-001", "A-003"], lo, hi)
    expected = sorted(
        (r for r in rs if r.header.asset in ("A-001", "A-003") and lo <= r.header.ts_ns <= hi),
        key=lambda r: (r.header.asset, r.header.ts_ns),
    )
    assert got == expected and len(got) == 10
    assert reader.assets() == ["A-000", "A-001", "A-002", "A-003"]
    assert reader.time_range() == (T0, T0 + 19 * 60 * S)
    assert reader.read("vibration").num_rows == 0


def test_duplicates_written_twice_are_read_once_and_compacted_away(tmp_path) -> None:
    rs = _thermal(assets=3, steps=10)
    for chunk in (rs, rs[5:20], rs[:3]):
        with StoreWriter(tmp_path) as w:
            w.write(chunk)
    reader = StoreReader(tmp_path)
    assert len(reader.readings("thermal")) == len(rs)
    report = compact(tmp_path)
    assert (report.files_in, report.files_out) == (3, 1)
    assert report.rows_in == len(rs) + 18 and report.rows_out == len(rs)
    (only,) = (tmp_path / "readings").rglob("*.parquet")
    assert pq.read_table(only).num_rows == len(rs)
    assert reader.readings("thermal", include_wal=False) == sorted(
        rs, key=lambda r: (r.header.asset, r.header.ts_ns)
    )


def test_scores_are_written_and_read_back_by_asset_and_time(tmp_path) -> None:
    events = [
        HealthEvent(f"A-{a}", T0 + k * S, 90.0 - k, 0.1 * k, 0.5, "normal", 0.9,
                    {"vibration": True}, {"vibration": 1.0}, "m1")
        for k in range(5)
        for a in range(2)
    ]  # fmt: skip
    with ScoreWriter(tmp_path) as w:
        w.write(events[:4])
        w.write(events[4:])
    reader = StoreReader(tmp_path)
    got = reader.health_events("A-1", T0 + S, T0 + 3 * S)
    assert got == [e for e in events if e.asset == "A-1" and T0 + S <= e.ts_ns <= T0 + 3 * S]
    assert reader.scores().num_rows == len(events)


def test_retention_drops_old_raw_partitions_and_keeps_scalars(tmp_path) -> None:
    day = 24 * H
    now = T0 + 10 * day
    with StoreWriter(tmp_path) as w:
        for d in range(10):
            w.write([_vib("P-1", T0 + d * day, d, n=4096)])
            w.write([CameraImage(Header("P-1", "cam", T0 + d * day, 1, d),
                                 np.full((32, 32, 3), d, np.uint8))])  # fmt: skip
        w.write(_thermal(assets=1, steps=10, dt_ns=day))
    report = apply_retention(tmp_path, now, StoreConfig(raw_retention_days=3.5))
    reader = StoreReader(tmp_path)
    days_left = [(r.header.ts_ns - T0) // day for r in reader.readings("vibration")]
    assert days_left == [6, 7, 8, 9]  # whole partitions only: day 6 holds data < 3.5 days old
    assert len(reader.readings("camera")) == 4
    assert len(reader.readings("thermal")) == 10  # scalars are kept longer
    assert len(report.partitions_deleted) == 12
    size = report.raw_bytes_kept
    budget = apply_retention(tmp_path, now, StoreConfig(raw_budget_gb=size * 0.6 / 1e9))
    assert budget.raw_bytes_kept <= size * 0.6
    left = [(r.header.ts_ns - T0) // day for r in reader.readings("vibration")]
    assert left == [8, 9] and reader.readings(Modality.CAMERA)[0].header.seq == 8


def test_upkeep_compacts_and_applies_retention_once_per_store_across_processes(tmp_path) -> None:
    import fcntl
    import time

    from ingest.store.maintenance import UPKEEP_LOCK, StoreUpkeep, run_upkeep

    day = 24 * H
    rs = _thermal(assets=4, steps=40)
    for k in range(4):  # four small files in one partition
        with StoreWriter(tmp_path) as w:
            w.write(rs[k * 40 : (k + 1) * 40])
    with StoreWriter(tmp_path) as w:
        w.write([_vib("P-1", T0 - 40 * day, 1, n=1024), _vib("P-1", T0, 2, n=1024)])
    config = StoreConfig(raw_retention_days=30, upkeep_interval_s=0.2)
    # another worker holds the lock: this one skips, touching nothing
    lock_path = tmp_path / UPKEEP_LOCK
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as other:
        fcntl.flock(other.fileno(), fcntl.LOCK_EX)
        assert run_upkeep(tmp_path, config, T0 + H) is None
    assert len(list((tmp_path / "readings" / "modality=thermal").rglob("*.parquet"))) == 4
    # the service's thread does it on its interval
    upkeep = StoreUpkeep(tmp_path, config, clock_ns=lambda: T0 + H).start()
    deadline = time.monotonic() + 30
    while upkeep.runs == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    upkeep.stop()
    assert upkeep.runs >= 1 and upkeep.errors == 0 and upkeep.last is not None
    thermal_files = list((tmp_path / "readings" / "modality=thermal").rglob("*.parquet"))
    assert len(thermal_files) == 1
    reader = StoreReader(tmp_path)
    assert len(reader.readings("thermal")) == len(rs)
    assert [r.header.seq for r in reader.readings("vibration")] == [2]  # 40 days old: gone


def test_a_reader_racing_compaction_always_sees_every_row(tmp_path) -> None:
    import threading

    rs = _thermal(assets=5, steps=30)
    stop = threading.Event()
    counts: list[int] = []
    errors: list[BaseException] = []

    def read_forever() -> None:
        reader = StoreReader(tmp_path)
        try:
            while not stop.is_set():
                counts.append(reader.read("thermal", include_wal=False).num_rows)
        except BaseException as exc:  # a read that gave up: the test fails on it below
            errors.append(exc)

    for round_ in range(6):
        for k in range(5):
            with StoreWriter(tmp_path) as w:
                w.write(rs[k * 30 : (k + 1) * 30])
        if round_ == 0:
            t = threading.Thread(target=read_forever)
            t.start()
        compact(tmp_path)
    stop.set()
    t.join()
    assert not errors, errors
    assert counts and set(counts) == {len(rs)}  # duplicates are dropped, nothing ever missing
