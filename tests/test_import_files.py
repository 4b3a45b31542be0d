"""``plantwatch import`` on real files: CWRU .mat vibration, PRONOSTIA CSV temperature and
vibration, and WAV / NumPy / Parquet made from them; validated, deduplicated, readable back."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.io import loadmat, wavfile

from ingest.importer import FileImportError, FileMapping, import_files
from ingest.store.reader import StoreReader
from plant.config import parse_config
from plant.readings import Modality

REPO = Path(__file__).resolve().parent.parent
G = 9.80665
PLANT_TOML = """
[plant]
name = "Test rig"
site = "lab"

[[areas]]
id = "rig"

[[assets]]
id = "B-1"
area = "rig"
type = "motor-pump"
speed_rpm = [1700, 1800]
bearing = { n_elements = 9, ball_diameter_mm = 7.94, pitch_diameter_mm = 39.04 }
sensors = [
  { id = "vib-de", modality = "vibration", channels = ["de"], sample_rate_hz = 12000, snapshot_s = 1.0, period_s = 600 },
  { id = "acc", modality = "vibration", channels = ["horiz", "vert"], sample_rate_hz = 25600, snapshot_s = 0.1, period_s = 10 },
  { id = "temp", modality = "thermal", channels = ["bearing"], period_s = 10 },
]
"""  # noqa: E501


@pytest.fixture
def plant(tmp_path: Path):
    (tmp_path / "plant.toml").write_text(PLANT_TOML)
    return parse_config(PLANT_TOML)


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "plant.cli", "import", "--config", str(tmp_path / "plant.toml")]
    cmd += ["--store", str(tmp_path / "store"), *args]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)


def test_cwru_mat_file_imports_as_snapshots_in_m_s2_and_twice_is_once(plant, tmp_path, shared_data):
    mat = shared_data / "cwru-bearing" / "Data" / "12k_DE" / "IR007_0.mat"
    args = ["--asset", "B-1", "--sensor", "vib-de", "--variable", "*_DE_time", "--units", "g"]
    args += ["--sample-rate-hz", "12000", "--start", "2024-01-01T00:00:00Z", str(mat)]
    first = _cli(tmp_path, *args)
    assert first.returncode == 0, first.stderr
    assert "imported 10 readings" in first.stdout  # 121,265 samples: ten 1 s snapshots
    again = _cli(tmp_path, *args)
    assert again.returncode == 0 and "imported 0 readings" in again.stdout
    assert "10 already stored" in again.stdout
    stored = StoreReader(tmp_path / "store").readings(Modality.VIBRATION)
    assert len(stored) == 10
    raw = next(v for k, v in loadmat(mat).items() if k.endswith("_DE_time")).ravel()
    np.testing.assert_allclose(stored[3].samples[0], raw[36_000:48_000] * G, rtol=1e-6)
    assert stored[3].header.ts_ns - stored[0].header.ts_ns == 3_000_000_000


def test_pronostia_headerless_temperature_csv_imports_row_by_row(plant, tmp_path, shared_data):
    csv = shared_data / "thermal-temperature/pronostia/Learning_set/Bearing1_1/temp_00001.csv"
    done = _cli(
        tmp_path,
        *("--asset", "B-1", "--sensor", "temp", "--date", "2010-12-01"),
        *("--columns", "hour,minute,second,decisecond,bearing", str(csv)),
    )
    assert done.returncode == 0, done.stderr
    rows = csv.read_text().splitlines()
    stored = StoreReader(tmp_path / "store").readings(Modality.THERMAL)
    assert len(stored) == len(rows)
    h, m, s, ds, temp = rows[0].split(",")
    first = stored[0]
    assert first.values_c == {"bearing": float(temp)}
    expected = np.datetime64(f"2010-12-01T{int(h):02d}:{int(m):02d}:{int(s):02d}", "ns")
    assert first.header.ts_ns == int(expected.astype(np.int64)) + int(ds) * 100_000_000


def test_pronostia_vibration_csv_becomes_one_two_axis_snapshot(plant, tmp_path, shared_data):
    csv = shared_data / "thermal-temperature/pronostia/Learning_set/Bearing1_1/acc_00001.csv"
    mapping = FileMapping(
        "B-1",
        "acc",
        columns=("hour", "minute", "second", "microsecond", "horiz", "vert"),
        units="g",
        date="2010-12-01",
    )
    report = import_files(plant, tmp_path / "store", [csv], mapping)
    assert report.readings == 1 and not report.rejected
    [snap] = StoreReader(tmp_path / "store").readings(Modality.VIBRATION)
    assert snap.samples.shape == (2, 2560)
    first = [float(x) for x in csv.read_text().splitlines()[0].split(",")[4:]]
    np.testing.assert_allclose(snap.samples[:, 0], np.array(first) * G, rtol=1e-6)


def test_wav_npz_and_parquet_made_from_real_data_import(plant, tmp_path, shared_data):
    mat = shared_data / "cwru-bearing" / "Data" / "12k_DE" / "B007_0.mat"
    raw = next(v for k, v in loadmat(mat).items() if k.endswith("_DE_time")).ravel()[:36_000]
    wavfile.write(tmp_path / "b.wav", 12_000, raw.astype(np.float32))
    np.savez(tmp_path / "b.npz", de=raw)
    start = "2024-02-01T00:00:00Z"
    wav = import_files(
        plant, tmp_path / "s1", [tmp_path / "b.wav"], FileMapping("B-1", "vib-de", start=start)
    )
    npz = import_files(
        plant,
        tmp_path / "s2",
        [tmp_path / "b.npz"],
        FileMapping("B-1", "vib-de", "de", start=start),
    )
    assert wav.readings == npz.readings == 3
    a = StoreReader(tmp_path / "s1").readings(Modality.VIBRATION)
    b = StoreReader(tmp_path / "s2").readings(Modality.VIBRATION)
    np.testing.assert_allclose(a[2].samples, b[2].samples, rtol=1e-6)

    ts = np.datetime64("2024-02-01T00:00:00", "ns").astype(np.int64) + np.arange(5) * 10**10
    table = pa.table({"ts_ns": ts, "bearing": [50.0, 51.0, 52.0, 900.0, 53.0]})
    pq.write_table(table, tmp_path / "t.parquet")
    rep = import_files(plant, tmp_path / "s3", [tmp_path / "t.parquet"], FileMapping("B-1", "temp"))
    assert rep.readings == 4 and rep.rejected == {"impossible_value": 1}  # 900 degC refused


def test_pickled_numpy_and_unmapped_files_are_refused_with_a_reason(plant, tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    mapping = FileMapping("B-1", "vib-de", start="2024-01-01T00:00:00Z")
    with pytest.raises(FileImportError, match="pickle"):
        import_files(plant, tmp_path / "s", [tmp_path / "obj.npy"], mapping)
    with pytest.raises(FileImportError, match="no sensor 'nope'"):
        import_files(plant, tmp_path / "s", [tmp_path / "obj.npy"], FileMapping("B-1", "nope"))
    np.save(tmp_path / "x.npy", np.zeros(24_000))
    done = _cli(tmp_path, "--asset", "B-1", "--sensor", "vib-de", str(tmp_path / "x.npy"))
    assert done.returncode == 2 and "no time" in done.stderr
    (tmp_path / "empty.npy").write_bytes(b"")
    done = _cli(tmp_path, "--asset", "B-1", "--sensor", "vib-de", "--start", "2024-01-01", "x")
    assert done.returncode == 2 and "not files" in done.stderr
    with pytest.raises(FileImportError, match="cannot read"):
        import_files(plant, tmp_path / "s", [tmp_path / "empty.npy"], mapping)
