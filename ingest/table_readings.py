"""Readings back out of a readings table: the payload columns of each modality, per row.

The inverse of the builders in :mod:`ingest.schema` (which defines the columns);
``ingest.schema.table_to_readings`` is the entry point.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from plant.readings import (
    CameraImage,
    ContextReading,
    Header,
    MachineState,
    Modality,
    OperatorNote,
    Reading,
    ThermalReading,
    VibrationSnapshot,
)


def _flat(table: pa.Table, name: str, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    col = table.column(name).combine_chunks()
    offsets = col.offsets.to_numpy()
    values = col.values.to_numpy(zero_copy_only=False).astype(dtype, copy=False)
    return offsets, values


def _read_vibration(t: pa.Table, headers: list[Header]) -> list[Reading]:
    offsets, values = _flat(t, "samples", np.dtype(np.float32))
    rates, chans = t.column("sample_rate_hz").to_pylist(), t.column("channels").to_pylist()
    n_ch = t.column("n_channels").to_pylist()
    return [
        VibrationSnapshot(
            h, rates[i], tuple(chans[i]), values[offsets[i] : offsets[i + 1]].reshape(n_ch[i], -1)
        )
        for i, h in enumerate(headers)
    ]


def _read_thermal(t: pa.Table, headers: list[Header]) -> list[Reading]:
    chans, values = t.column("channels").to_pylist(), t.column("values_c").to_pylist()
    return [
        ThermalReading(h, dict(zip(c, v, strict=True)))
        for h, c, v in zip(headers, chans, values, strict=True)
    ]


def _read_context(t: pa.Table, headers: list[Header]) -> list[Reading]:
    cols = [t.column(c).to_pylist() for c in ("shaft_speed_hz", "load_fraction", "ambient_c")]
    states = t.column("state").to_pylist()
    return [
        ContextReading(h, s, lf, a, MachineState(st))
        for h, s, lf, a, st in zip(headers, *cols, states, strict=True)
    ]


def _read_camera(t: pa.Table, headers: list[Header]) -> list[Reading]:
    hs, ws = t.column("height").to_pylist(), t.column("width").to_pylist()
    pixels = t.column("pixels").to_pylist()
    return [
        CameraImage(h, np.frombuffer(p, dtype=np.uint8).reshape(hh, ww, 3))
        for h, hh, ww, p in zip(headers, hs, ws, pixels, strict=True)
    ]


def _read_notes(t: pa.Table, headers: list[Header]) -> list[Reading]:
    texts, authors = t.column("text").to_pylist(), t.column("author").to_pylist()
    return [OperatorNote(h, x, a) for h, x, a in zip(headers, texts, authors, strict=True)]


PAYLOAD_READERS = {
    Modality.VIBRATION: _read_vibration,
    Modality.THERMAL: _read_thermal,
    Modality.CONTEXT: _read_context,
    Modality.CAMERA: _read_camera,
    Modality.NOTES: _read_notes,
}
