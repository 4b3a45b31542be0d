"""Reading tables (CSV, Parquet) for ``plantwatch import``: times and per-row scalar readings.

See :mod:`ingest.importer` for the formats and how a file maps to an asset and sensor.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from plant.config.assets import SensorConfig
from plant.readings import ContextReading, Header, MachineState, Modality, Reading, ThermalReading

TIME_COLUMNS = {"ts_ns", "time", "hour", "minute", "second", "decisecond", "microsecond"}


class FileImportError(ValueError):
    """A file that cannot be imported as mapped, with the reason and the fix."""


@dataclasses.dataclass(frozen=True, slots=True)
class FileMapping:
    asset: str
    sensor: str
    variable: str | None = None  # .mat/.npz variable (fnmatch pattern, e.g. "*_DE_time")
    columns: tuple[str, ...] | None = None  # names for a headerless CSV
    units: str = "m/s2"  # waveform units: "m/s2" or "g"
    sample_rate_hz: float | None = None  # default: the sensor's config
    start: str | None = None  # ISO-8601 UTC time of a waveform file's first sample
    date: str | None = None  # YYYY-MM-DD for hour/minute/second columns


def iso_ns(text: str) -> int:
    t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return int(t.timestamp()) * 1_000_000_000 + t.microsecond * 1000


def read_table(path: Path, mapping: FileMapping) -> pa.Table:
    if path.suffix.lower() == ".parquet":
        return pq.read_table(path)
    if mapping.columns:
        read = pacsv.ReadOptions(column_names=list(mapping.columns))
        return pacsv.read_csv(path, read_options=read)
    return pacsv.read_csv(path)


def has_time(table: pa.Table) -> bool:
    return bool({"ts_ns", "time", "hour"} & set(table.column_names))


def times(table: pa.Table, mapping: FileMapping, path: Path) -> np.ndarray:
    names = set(table.column_names)
    if "ts_ns" in names:
        return table.column("ts_ns").to_numpy().astype(np.int64)
    if "time" in names:
        return np.array([iso_ns(str(t)) for t in table.column("time").to_pylist()], np.int64)
    if "hour" in names and mapping.date:
        day = iso_ns(f"{mapping.date}T00:00:00Z")
        col = {n: table.column(n).to_numpy().astype(np.int64) for n in names & TIME_COLUMNS}
        seconds = col["hour"] * 3600 + col.get("minute", 0) * 60 + col.get("second", 0)
        sub = col.get("decisecond", 0) * 100_000_000 + col.get("microsecond", 0) * 1000
        return day + seconds * 1_000_000_000 + sub
    raise FileImportError(f"{path}: no time: add a ts_ns or time column, or hour/... with --date")


def scalar_rows(
    table: pa.Table, mapping: FileMapping, sensor: SensorConfig, epoch: int, path: Path
) -> list[Reading]:
    ts = times(table, mapping, path)
    cols = {c: table.column(c).to_pylist() for c in table.column_names if c not in TIME_COLUMNS}
    out: list[Reading] = []
    for i, t in enumerate(ts):
        h = Header(mapping.asset, mapping.sensor, int(t), epoch, i)
        if sensor.modality is Modality.THERMAL:
            out.append(ThermalReading(h, {k: float(v[i]) for k, v in cols.items()}))
        elif sensor.modality is Modality.CONTEXT:
            state = MachineState(cols.get("state", ["running"] * len(ts))[i])
            row = {k: float(cols[k][i]) for k in ("shaft_speed_hz", "load_fraction", "ambient_c")}
            out.append(ContextReading(h, state=state, **row))
        else:
            raise FileImportError(f"{path}: {sensor.modality} cannot be imported from a table")
    return out
