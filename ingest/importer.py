"""Importing history from files into the store: CSV, Parquet, WAV, NumPy (.npy/.npz) and .mat.

A :class:`FileMapping` says which asset and sensor a file belongs to and how to read it. The
readings then go through the same validation as live ingest (one definition; only the "too far
in the past" limit is lifted, history is the point) and the same deduplication index, and are
written with the store's :class:`~ingest.store.writer.StoreWriter`. Readings of one file share an
epoch derived from the file's bytes, with ``seq`` counting within it, so importing the same file
twice stores it once.

- Waveforms (vibration sensors; WAV, .npy, .npz, .mat, or CSV/Parquet with one column per
  channel and one row per sample) are cut into snapshots of the sensor's ``snapshot_s``, timed
  from ``start`` (or from the file's own time columns).
- Scalars (thermal and context sensors; CSV/Parquet) become one reading per row. Time comes from
  a ``ts_ns`` column, an ISO-8601 ``time`` column, or ``hour``/``minute``/``second`` (plus
  ``decisecond`` or ``microsecond``) columns with ``date``.

NumPy files are loaded with ``allow_pickle=False``; .mat files with scipy (data only, no code).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import logging
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa

from ingest.dedupe import DedupIndex
from ingest.import_tables import (
    TIME_COLUMNS,
    FileImportError,
    FileMapping,
    has_time,
    iso_ns,
    read_table,
    scalar_rows,
    times,
)
from ingest.redact import redact, redact_author
from ingest.store.writer import StoreWriter
from ingest.validate import Accepted, Validator
from plant import codec, topics
from plant.config import PlantConfig
from plant.config.assets import SensorConfig
from plant.readings import (
    Header,
    Modality,
    Reading,
    VibrationSnapshot,
)

log = logging.getLogger(__name__)

G_M_S2 = 9.80665
WAVEFORM_SUFFIXES = {".wav", ".npy", ".npz", ".mat"}
TABLE_SUFFIXES = {".csv", ".parquet"}


@dataclasses.dataclass(slots=True)
class ImportReport:
    files: int = 0
    readings: int = 0
    duplicates: int = 0
    rejected: Counter = dataclasses.field(default_factory=Counter)


def import_files(
    plant: PlantConfig, store_root: str | Path, paths: list[Path], mapping: FileMapping
) -> ImportReport:
    """Read, validate, deduplicate and store ``paths``; return the counts."""
    asset = plant.asset(mapping.asset)
    if asset is None:
        raise FileImportError(f"asset {mapping.asset!r} is not in the plant config")
    sensor = asset.sensor(mapping.sensor)
    if sensor is None:
        ids = [s.id for s in asset.sensors]
        raise FileImportError(f"asset {asset.id} has no sensor {mapping.sensor!r}; it has {ids}")
    limits = plant.ingest.model_copy(update={"max_past_s": 1e11})
    validator = Validator(plant, limits)
    topic = topics.reading_topic(asset.site, asset.area, asset.id, sensor.id, sensor.modality)
    report = ImportReport()
    dedup = DedupIndex(store_root, name="imports")  # history: never pruned
    try:
        with StoreWriter(store_root) as writer:
            for path in paths:
                good = _validated(read_file(path, mapping, sensor), topic, validator, report)
                known = dedup.known([r.header.dedup_key for r in good])
                fresh = [r for r in good if r.header.dedup_key not in known]
                writer.write(fresh)
                writer.flush()
                dedup.commit([(r.header.dedup_key, r.header.ts_ns) for r in fresh])
                report.files += 1
                report.readings += len(fresh)
                report.duplicates += len(good) - len(fresh)
                log.info(
                    "%s: %d readings (%d already stored)", path, len(fresh), len(good) - len(fresh)
                )
    finally:
        dedup.close()
    return report


def _validated(
    readings: list[Reading], topic: str, validator: Validator, report: ImportReport
) -> list[Reading]:
    out = []
    for r in readings:
        res = validator.check(topic, codec.encode(r), r.header.ts_ns)
        if isinstance(res, Accepted):
            reading = res.reading
            if reading.modality is Modality.NOTES:
                reading = dataclasses.replace(
                    reading, text=redact(reading.text).text, author=redact_author(reading.author)
                )
            out.append(reading)
        else:
            report.rejected[res.reason] += 1
            log.warning("rejected a reading of %s: %s (%s)", topic, res.reason, res.detail)
    return out


def read_file(path: Path, mapping: FileMapping, sensor: SensorConfig) -> list[Reading]:
    """The readings in one file, for ``sensor``; raise FileImportError saying what is wrong."""
    try:
        return _read_file(Path(path), mapping, sensor)
    except FileImportError:
        raise
    except (OSError, EOFError, ValueError, KeyError, TypeError, pa.ArrowException) as exc:
        raise FileImportError(f"{path}: cannot read it as mapped: {exc}") from None


def _read_file(path: Path, mapping: FileMapping, sensor: SensorConfig) -> list[Reading]:
    suffix = path.suffix.lower()
    epoch = _epoch(path)
    if sensor.modality is Modality.VIBRATION:
        if suffix in WAVEFORM_SUFFIXES:
            start_ns = _start(mapping, path)
            samples = _waveform(path, mapping, sensor)
        elif suffix in TABLE_SUFFIXES:
            table = read_table(path, mapping)
            start_ns = times(table, mapping, path)[0] if has_time(table) else None
            start_ns = start_ns if start_ns is not None else _start(mapping, path)
            samples = _table_waveform(table, mapping, sensor)
        else:
            raise FileImportError(f"{path}: {suffix!r} files cannot hold a vibration waveform")
        rate = mapping.sample_rate_hz or (_wav_rate(path) if suffix == ".wav" else None)
        rate = rate or sensor.sample_rate_hz
        return _snapshots(samples, rate, start_ns, sensor, mapping, epoch)
    if suffix not in TABLE_SUFFIXES:
        raise FileImportError(f"{path}: a {sensor.modality} sensor imports from CSV or Parquet")
    return scalar_rows(read_table(path, mapping), mapping, sensor, epoch, path)


def _epoch(path: Path) -> int:
    """A stable epoch per file content: re-importing the same bytes gives the same keys."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return int.from_bytes(h.digest()[:6], "big")


def _start(mapping: FileMapping, path: Path) -> int:
    if not mapping.start:
        raise FileImportError(f"{path} carries no time: give --start 2024-01-01T00:00:00Z")
    return iso_ns(mapping.start)


def _waveform(path: Path, mapping: FileMapping, sensor: SensorConfig) -> np.ndarray:
    """(C, N) float32 in m/s2 from a WAV, .npy, .npz or .mat file."""
    suffix = path.suffix.lower()
    if suffix == ".wav":
        from scipy.io import wavfile

        _, data = wavfile.read(path)
        arr = data.T if data.ndim == 2 else data[None, :]
        if np.issubdtype(arr.dtype, np.integer):
            arr = arr / float(np.iinfo(arr.dtype).max)  # full scale = 1 unit of ``units``
    elif suffix == ".npy":
        arr = np.load(path, allow_pickle=False)
    elif suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            arr = z[_pick(list(z.keys()), mapping, path)]
    else:
        from scipy.io import loadmat

        mat = {k: v for k, v in loadmat(path).items() if not k.startswith("__")}
        arr = mat[_pick(list(mat), mapping, path)]
    return _as_channels(np.asarray(arr, dtype=np.float64), mapping, sensor, path)


def _pick(names: list[str], mapping: FileMapping, path: Path) -> str:
    pattern = mapping.variable or "*"
    found = [n for n in names if fnmatch.fnmatch(n, pattern)]
    if len(found) != 1:
        raise FileImportError(f"{path}: variable {pattern!r} matches {found} of {names}")
    return found[0]


def _as_channels(
    arr: np.ndarray, mapping: FileMapping, sensor: SensorConfig, path: Path
) -> np.ndarray:
    arr = np.squeeze(arr)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise FileImportError(f"{path}: waveform of shape {arr.shape}; expected (N,) or (N, C)")
    if arr.shape[0] > arr.shape[1]:
        arr = arr.T  # (N, C) -> (C, N)
    if arr.shape[0] != len(sensor.channels):
        raise FileImportError(
            f"{path}: {arr.shape[0]} channel(s); sensor {sensor.id} has {list(sensor.channels)}"
        )
    scale = {"m/s2": 1.0, "g": G_M_S2}.get(mapping.units)
    if scale is None:
        raise FileImportError(f"units {mapping.units!r}: use m/s2 or g")
    return (arr * scale).astype(np.float32)


def _wav_rate(path: Path) -> float:
    from scipy.io import wavfile

    return float(wavfile.read(path, mmap=True)[0])


def _snapshots(
    samples: np.ndarray,
    rate: float,
    start_ns: int,
    sensor: SensorConfig,
    mapping: FileMapping,
    epoch: int,
) -> list[Reading]:
    per = round(rate * (sensor.snapshot_s or 1.0))
    out: list[Reading] = []
    for k, at in enumerate(range(0, samples.shape[1], per)):
        chunk = samples[:, at : at + per]
        if chunk.shape[1] < per // 2:
            break  # a short tail is not a snapshot of the configured length
        h = Header(mapping.asset, mapping.sensor, start_ns + round(at / rate * 1e9), epoch, k)
        out.append(VibrationSnapshot(h, rate, tuple(sensor.channels), chunk))
    return out


def _table_waveform(table: pa.Table, mapping: FileMapping, sensor: SensorConfig) -> np.ndarray:
    cols = [c for c in table.column_names if c not in TIME_COLUMNS]
    arr = np.stack([table.column(c).to_numpy().astype(np.float64) for c in cols])
    return _as_channels(arr, mapping, sensor, Path(mapping.asset))
