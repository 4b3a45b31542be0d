"""The store's Parquet schema, defined once: readings per modality, labels, scores, dead letters.

Every readings table starts with the same columns (asset, sensor, ts_ns, epoch, seq, quality,
ingest_ns); the modality's payload follows. Waveforms are flattened ``list<float32>`` (C*N values,
channel-major) written with byte-stream-split + zstd level 1 (STACK.md). Scalars keep float64 so a
reading read back equals the reading written (``table_to_readings(readings_to_table(r)) == r``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from ingest.table_readings import PAYLOAD_READERS
from plant.readings import (
    CameraImage,
    ContextReading,
    Header,
    Modality,
    OperatorNote,
    Quality,
    Reading,
    ThermalReading,
    VibrationSnapshot,
)

SCHEMA_VERSION = "1"
DEDUP_KEY: tuple[str, ...] = ("asset", "sensor", "epoch", "seq")
_DICT_STR = pa.dictionary(pa.int32(), pa.string())


def _meta(kind: str) -> dict[bytes, bytes]:
    return {
        b"plantwatch.kind": kind.encode(),
        b"plantwatch.schema_version": SCHEMA_VERSION.encode(),
    }


COMMON_FIELDS: tuple[pa.Field, ...] = (
    pa.field("asset", _DICT_STR, nullable=False),
    pa.field("sensor", _DICT_STR, nullable=False),
    pa.field("ts_ns", pa.int64(), nullable=False),  # UTC ns: when the reading was taken
    pa.field("epoch", pa.int64(), nullable=False),
    pa.field("seq", pa.int64(), nullable=False),
    pa.field("quality", pa.int8(), nullable=False),  # plant.readings.Quality
    pa.field("ingest_ns", pa.int64(), nullable=False),  # UTC ns: when the store received it
)

_PAYLOAD_FIELDS: dict[Modality, tuple[pa.Field, ...]] = {
    Modality.VIBRATION: (
        pa.field("sample_rate_hz", pa.float64(), nullable=False),
        pa.field("channels", pa.list_(pa.string()), nullable=False),
        pa.field("n_channels", pa.int16(), nullable=False),
        pa.field("samples", pa.list_(pa.float32()), nullable=False),  # (C*N,) m/s², C-major
    ),
    Modality.THERMAL: (
        pa.field("channels", pa.list_(pa.string()), nullable=False),
        pa.field("values_c", pa.list_(pa.float64()), nullable=False),
    ),
    Modality.CONTEXT: (
        pa.field("shaft_speed_hz", pa.float64(), nullable=False),
        pa.field("load_fraction", pa.float64(), nullable=False),
        pa.field("ambient_c", pa.float64(), nullable=False),
        pa.field("state", _DICT_STR, nullable=False),
    ),
    Modality.CAMERA: (
        pa.field("height", pa.int32(), nullable=False),
        pa.field("width", pa.int32(), nullable=False),
        pa.field("pixels", pa.binary(), nullable=False),  # (H, W, 3) uint8 RGB, C order
    ),
    Modality.NOTES: (
        pa.field("text", pa.string(), nullable=False),
        pa.field("author", pa.string(), nullable=False),  # already redacted by ingest
    ),
}

READING_SCHEMAS: dict[Modality, pa.Schema] = {
    m: pa.schema(COMMON_FIELDS + fields, metadata=_meta(f"readings/{m.value}"))
    for m, fields in _PAYLOAD_FIELDS.items()
}

LABELS_SCHEMA = pa.schema(
    [
        pa.field("asset", pa.string(), nullable=False),
        pa.field("fault", pa.string(), nullable=False),  # plant.labels.FaultClass value
        pa.field("onset_ns", pa.int64(), nullable=False),
        pa.field("failure_ns", pa.int64(), nullable=False),
        pa.field("repair_ns", pa.int64(), nullable=False),
        pa.field("visible_in", pa.list_(pa.string()), nullable=False),
        pa.field("primary", pa.string(), nullable=False),
        pa.field("growth_exponent", pa.float64(), nullable=False),
        pa.field("onset_severity", pa.float64(), nullable=True),  # null in older stores: 0
    ],
    metadata=_meta("labels"),
)

SCORES_SCHEMA = pa.schema(
    [
        pa.field("asset", _DICT_STR, nullable=False),
        pa.field("ts_ns", pa.int64(), nullable=False),
        pa.field("health", pa.float64(), nullable=False),
        pa.field("anomaly_score", pa.float64(), nullable=False),
        pa.field("p_value", pa.float64(), nullable=False),
        pa.field("fault_class", _DICT_STR, nullable=False),
        pa.field("fault_probability", pa.float64(), nullable=False),
        pa.field("present", pa.map_(pa.string(), pa.bool_()), nullable=False),
        pa.field("staleness_s", pa.map_(pa.string(), pa.float64()), nullable=False),
        pa.field("model_version", _DICT_STR, nullable=False),
        pa.field("calibration_group", _DICT_STR, nullable=False),
        pa.field("explanation", pa.map_(pa.string(), pa.float64()), nullable=True),
        pa.field("scored_ns", pa.int64(), nullable=False),
        pa.field("trigger", pa.string(), nullable=True),
    ],
    metadata=_meta("scores"),
)

DEAD_LETTER_SCHEMA = pa.schema(
    [
        pa.field("topic", pa.string(), nullable=False),
        pa.field("payload", pa.binary(), nullable=False),  # the raw bytes as received
        pa.field("arrival_ns", pa.int64(), nullable=False),
        pa.field("reason", _DICT_STR, nullable=False),  # plant.codec.DecodeError.reason etc.
        pa.field("detail", pa.string(), nullable=False),
    ],
    metadata=_meta("dead_letters"),
)


def parquet_options(schema: pa.Schema) -> dict[str, Any]:
    """Writer options for ``schema``: zstd 1, dictionaries for strings, BSS for float lists."""
    bss = [
        f"{f.name}.list.element"
        for f in schema
        if pa.types.is_list(f.type) and pa.types.is_floating(f.type.value_type)
    ]
    dictionary = [f.name for f in schema if pa.types.is_dictionary(f.type)]
    return {
        "compression": "zstd",
        "compression_level": 1,
        "use_dictionary": dictionary,
        "use_byte_stream_split": bss or False,
        "write_statistics": True,
    }


# ---------------------------------------------------------------------------- readings -> table


def readings_to_table(
    modality: Modality | str,
    readings: Sequence[Reading],
    ingest_ns: int | Sequence[int] | None = None,
) -> pa.Table:
    """A table of ``readings`` (all of ``modality``) in the store's schema, in the given order."""
    modality = Modality(modality)
    for r in readings:
        if r.modality is not modality:
            raise ValueError(f"{type(r).__name__} of {r.header.asset} is not {modality.value}")
    n = len(readings)
    if ingest_ns is None:
        ingest = np.full(n, time.time_ns(), dtype=np.int64)
    elif isinstance(ingest_ns, int | np.integer):
        ingest = np.full(n, int(ingest_ns), dtype=np.int64)
    else:
        ingest = np.asarray(ingest_ns, dtype=np.int64)
    headers = [r.header for r in readings]
    cols: dict[str, pa.Array] = {
        "asset": pa.array([h.asset for h in headers], pa.string()).dictionary_encode(),
        "sensor": pa.array([h.sensor for h in headers], pa.string()).dictionary_encode(),
        "ts_ns": pa.array([h.ts_ns for h in headers], pa.int64()),
        "epoch": pa.array([h.epoch for h in headers], pa.int64()),
        "seq": pa.array([h.seq for h in headers], pa.int64()),
        "quality": pa.array([int(h.quality) for h in headers], pa.int8()),
        "ingest_ns": pa.array(ingest, pa.int64()),
    }
    cols |= _PAYLOAD_BUILDERS[modality](readings)
    schema = READING_SCHEMAS[modality]
    return pa.Table.from_arrays([cols[f.name] for f in schema], schema=schema)


def _list_array(arrays: list[np.ndarray], dtype: np.dtype, pa_type: pa.DataType) -> pa.Array:
    flat = [np.ascontiguousarray(a, dtype=dtype).reshape(-1) for a in arrays]
    offsets = np.zeros(len(flat) + 1, dtype=np.int32)
    if flat:
        np.cumsum([f.size for f in flat], out=offsets[1:])
    values = np.concatenate(flat) if flat else np.zeros(0, dtype=dtype)
    if offsets[-1] != values.size or values.size >= 2**31:
        raise ValueError(f"{values.size} list values do not fit 32-bit offsets; write fewer rows")
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values, pa_type))


def _vibration(rs: Sequence[VibrationSnapshot]) -> dict[str, pa.Array]:
    return {
        "sample_rate_hz": pa.array([r.sample_rate_hz for r in rs], pa.float64()),
        "channels": pa.array([list(r.channels) for r in rs], pa.list_(pa.string())),
        "n_channels": pa.array([r.samples.shape[0] for r in rs], pa.int16()),
        "samples": _list_array([r.samples for r in rs], np.dtype("<f4"), pa.float32()),
    }


def _thermal(rs: Sequence[ThermalReading]) -> dict[str, pa.Array]:
    return {
        "channels": pa.array([list(r.values_c) for r in rs], pa.list_(pa.string())),
        "values_c": pa.array([list(r.values_c.values()) for r in rs], pa.list_(pa.float64())),
    }


def _context(rs: Sequence[ContextReading]) -> dict[str, pa.Array]:
    return {
        "shaft_speed_hz": pa.array([r.shaft_speed_hz for r in rs], pa.float64()),
        "load_fraction": pa.array([r.load_fraction for r in rs], pa.float64()),
        "ambient_c": pa.array([r.ambient_c for r in rs], pa.float64()),
        "state": pa.array([r.state.value for r in rs], pa.string()).dictionary_encode(),
    }


def _camera(rs: Sequence[CameraImage]) -> dict[str, pa.Array]:
    for r in rs:
        if r.pixels.ndim != 3 or r.pixels.shape[2] != 3:
            raise ValueError(f"image of {r.header.asset} has shape {r.pixels.shape}; need (H,W,3)")
    return {
        "height": pa.array([r.pixels.shape[0] for r in rs], pa.int32()),
        "width": pa.array([r.pixels.shape[1] for r in rs], pa.int32()),
        "pixels": pa.array([np.ascontiguousarray(r.pixels, np.uint8).tobytes() for r in rs]),
    }


def _notes(rs: Sequence[OperatorNote]) -> dict[str, pa.Array]:
    return {
        "text": pa.array([r.text for r in rs], pa.string()),
        "author": pa.array([r.author for r in rs], pa.string()),
    }


_PAYLOAD_BUILDERS = {
    Modality.VIBRATION: _vibration,
    Modality.THERMAL: _thermal,
    Modality.CONTEXT: _context,
    Modality.CAMERA: _camera,
    Modality.NOTES: _notes,
}


# ---------------------------------------------------------------------------- table -> readings


def modality_of(table_or_schema: pa.Table | pa.Schema) -> Modality:
    """The modality whose readings schema ``table_or_schema`` carries (by its payload columns)."""
    schema = table_or_schema if isinstance(table_or_schema, pa.Schema) else table_or_schema.schema
    names = set(schema.names)
    for m, fields in _PAYLOAD_FIELDS.items():
        if all(f.name in names for f in fields):
            return m
    raise ValueError(f"columns {sorted(names)} are not a plantwatch readings table")


def table_to_readings(table: pa.Table) -> list[Reading]:
    """The readings of a readings table (any modality), in row order."""
    modality = modality_of(table)
    headers = [
        Header(a, s, t, e, q_seq, Quality(q))
        for a, s, t, e, q_seq, q in zip(
            *(table.column(c).to_pylist() for c in ("asset", "sensor", "ts_ns", "epoch", "seq")),
            table.column("quality").to_pylist(),
            strict=True,
        )
    ]
    return PAYLOAD_READERS[modality](table, headers)
