"""The store is plain Parquet with hive partitions: DuckDB and pandas read it with no plantwatch
code, including the vibration waveforms (byte-stream-split float32 lists) and the images."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from ingest.store import StoreReader, StoreWriter
from plant.readings import CameraImage, Header, ThermalReading, VibrationSnapshot

T0 = 1_763_856_000_000_000_000  # 2025-11-23T00:00:00Z
S = 1_000_000_000


def _write_store(root) -> tuple[list, list, list]:
    rng = np.random.default_rng(4)
    thermal = [
        ThermalReading(Header(f"A-{a}", "temp", T0 + k * 3600 * S, 1, k), {"de": 40.0 + a + k})
        for k in range(30)  # 30 h: two dates
        for a in range(3)
    ]
    vib = [
        VibrationSnapshot(
            Header(f"A-{a}", "vib", T0 + k * 600 * S, 1, k),
            12800.0,
            ("x", "y", "z"),
            rng.normal(size=(3, 1024)).astype(np.float32),
        )
        for k in range(4)
        for a in range(2)
    ]
    cam = [CameraImage(Header("A-0", "cam", T0, 1, 0), rng.integers(0, 255, (16, 16, 3), np.uint8))]
    with StoreWriter(root) as w:
        w.write(thermal + vib + cam)
    return thermal, vib, cam


def test_duckdb_reads_every_modality_with_hive_partitions(tmp_path) -> None:
    _thermal, vib, cam = _write_store(tmp_path)
    con = duckdb.connect()
    glob = f"{tmp_path}/readings/modality=thermal/**/*.parquet"
    rows = con.execute(
        f"select asset, count(*), min(ts_ns), count(distinct date) "
        f"from read_parquet('{glob}', hive_partitioning=true) group by asset order by asset"
    ).fetchall()
    assert rows == [(f"A-{a}", 30, T0, 2) for a in range(3)]
    glob = f"{tmp_path}/readings/modality=vibration/**/*.parquet"
    got = con.execute(
        f"select asset, seq, sample_rate_hz, n_channels, samples "
        f"from read_parquet('{glob}', hive_partitioning=true) order by asset, seq"
    ).fetchall()
    assert len(got) == len(vib)
    by_key = {(r.header.asset, r.header.seq): r for r in vib}
    for asset, seq, rate, n_channels, samples in got:
        want = by_key[(asset, seq)]
        assert rate == 12800.0 and n_channels == 3
        np.testing.assert_array_equal(np.asarray(samples, np.float32), want.samples.ravel())
    glob = f"{tmp_path}/readings/modality=camera/**/*.parquet"
    (n,) = con.execute(f"select count(*) from read_parquet('{glob}')").fetchone()
    assert n == len(cam)


def test_pandas_reads_the_same_rows_as_the_reader_api(tmp_path) -> None:
    thermal, _, _ = _write_store(tmp_path)
    frame = pd.read_parquet(tmp_path / "readings" / "modality=thermal")
    assert len(frame) == len(thermal)
    assert set(frame["date"].astype(str)) == {"2025-11-23", "2025-11-24"}  # hive column
    api = StoreReader(tmp_path).read("thermal").to_pandas()
    merged = frame.merge(api, on=["asset", "sensor", "ts_ns", "seq"], suffixes=("", "_api"))
    assert len(merged) == len(thermal)
