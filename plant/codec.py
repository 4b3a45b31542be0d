"""Wire codecs, defined once: JSON for scalars and notes, a compact binary frame for arrays.

See docs/PROTOCOL.md. ``encode`` gives the MQTT payload of a reading; ``decode`` takes the
topic's identity (asset, sensor, modality) and the payload and gives the reading back, or raises
:class:`DecodeError` with a machine-readable reason (counted per reason by ingest's dead letters).

Binary frame (vibration, camera)::

    b"PWB" + version (1 byte) | header length H (uint32 LE) | H bytes UTF-8 JSON header | data

The data is the array in C order, little-endian, of the header's ``dtype`` and ``shape``.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

import numpy as np

from plant import WIRE_VERSION
from plant.readings import (
    UNITS,
    CameraImage,
    ContextReading,
    Header,
    MachineState,
    Modality,
    OperatorNote,
    Quality,
    Reading,
    ThermalReading,
    VibrationSnapshot,
)

MAGIC = b"PWB"
_FRAME_HEAD = struct.Struct("<3sBI")
BINARY_MODALITIES = frozenset({Modality.VIBRATION, Modality.CAMERA})
_DTYPES = {Modality.VIBRATION: np.dtype("<f4"), Modality.CAMERA: np.dtype("u1")}
MAX_HEADER_BYTES = 64 * 1024


class DecodeError(ValueError):
    """A payload that cannot be decoded; ``reason`` is a short stable code for counting."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


# ---------------------------------------------------------------------------- encoding


def _common(r: Reading) -> dict[str, Any]:
    h = r.header
    return {
        "v": WIRE_VERSION,
        "ts_ns": int(h.ts_ns),
        "epoch": int(h.epoch),
        "seq": int(h.seq),
        "quality": h.quality.name.lower(),
        "units": r.units,
    }


def encode(reading: Reading) -> bytes:
    """The MQTT payload of ``reading`` (asset, sensor and modality travel in the topic)."""
    doc = _common(reading)
    match reading:
        case VibrationSnapshot():
            doc |= {
                "sample_rate_hz": float(reading.sample_rate_hz),
                "channels": list(reading.channels),
            }
            return _frame(doc, reading.samples, _DTYPES[Modality.VIBRATION])
        case CameraImage():
            return _frame(doc, reading.pixels, _DTYPES[Modality.CAMERA])
        case ThermalReading():
            doc["values"] = {k: float(v) for k, v in reading.values_c.items()}
        case ContextReading():
            doc |= {
                "shaft_speed_hz": float(reading.shaft_speed_hz),
                "load_fraction": float(reading.load_fraction),
                "ambient_c": float(reading.ambient_c),
                "state": reading.state.value,
            }
        case OperatorNote():
            doc |= {"text": reading.text, "author": reading.author}
        case _:
            raise TypeError(f"not a reading: {type(reading).__name__}")
    return json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()


def _frame(doc: dict[str, Any], array: np.ndarray, dtype: np.dtype) -> bytes:
    arr = np.ascontiguousarray(array, dtype=dtype)
    doc |= {"dtype": dtype.str, "shape": list(arr.shape)}
    head = json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()
    return _FRAME_HEAD.pack(MAGIC, WIRE_VERSION, len(head)) + head + arr.tobytes()


# ---------------------------------------------------------------------------- decoding


def decode(asset: str, sensor: str, modality: Modality, payload: bytes) -> Reading:
    """Decode ``payload`` for the sensor named by its topic; raise DecodeError on any defect."""
    try:
        return _decode(asset, sensor, Modality(modality), payload)
    except DecodeError:
        raise
    except Exception as exc:  # any other defect is still a bad payload, never a crash
        raise DecodeError("malformed", f"{type(exc).__name__}: {exc}") from None


def _decode(asset: str, sensor: str, modality: Modality, payload: bytes) -> Reading:
    if modality in BINARY_MODALITIES:
        doc, array = _unframe(payload, _DTYPES[modality])
    else:
        doc, array = _json(payload), None
    header = _header(asset, sensor, doc)
    units = _field(doc, "units", str)
    if units != UNITS[modality]:
        raise DecodeError(
            "wrong_units", f"units {units!r}; {modality.value} takes {UNITS[modality]!r}"
        )
    if modality is Modality.VIBRATION:
        channels = tuple(_field(doc, "channels", list))
        if not all(isinstance(c, str) for c in channels):
            raise DecodeError("wrong_type", "channels must be strings")
        if array.ndim != 2 or array.shape[0] != len(channels) or array.shape[1] < 8:
            raise DecodeError("wrong_shape", f"samples shape {array.shape} for channels {channels}")
        rate = _number(doc, "sample_rate_hz")
        return VibrationSnapshot(header, rate, channels, array)
    if modality is Modality.CAMERA:
        if array.ndim != 3 or array.shape[2] != 3 or min(array.shape[:2]) < 8:
            raise DecodeError("wrong_shape", f"image shape {array.shape}; expected (H, W, 3)")
        return CameraImage(header, array)
    if modality is Modality.THERMAL:
        values = _field(doc, "values", dict)
        if not values:
            raise DecodeError("missing_field", "values is empty")
        return ThermalReading(header, {str(k): _number(values, k) for k in values})
    if modality is Modality.CONTEXT:
        try:
            state = MachineState(_field(doc, "state", str))
        except ValueError:
            raise DecodeError(
                "bad_value", f"state {doc['state']!r} not in {[s.value for s in MachineState]}"
            ) from None
        return ContextReading(
            header,
            _number(doc, "shaft_speed_hz"),
            _number(doc, "load_fraction"),
            _number(doc, "ambient_c"),
            state,
        )
    text = _field(doc, "text", str)
    author = doc.get("author", "")
    if not isinstance(author, str):
        raise DecodeError("wrong_type", "author must be a string")
    return OperatorNote(header, text, author)


def _json(payload: bytes) -> dict[str, Any]:
    if payload[:3] == MAGIC:
        raise DecodeError("wrong_encoding", "binary frame where JSON was expected")
    try:
        text = (
            payload
            if isinstance(payload, str)
            else bytes(payload).decode(json.detect_encoding(payload), "surrogatepass")
        )
        doc = _DECODER.decode(text)  # one decoder, not one per call as json.loads(..., kw) makes
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DecodeError("malformed", f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise DecodeError("malformed", f"JSON {type(doc).__name__}, expected an object")
    return doc


def _reject_constant(name: str) -> float:
    raise DecodeError("non_finite", f"{name} is not a finite number")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _unframe(payload: bytes, dtype: np.dtype) -> tuple[dict[str, Any], np.ndarray]:
    if len(payload) < _FRAME_HEAD.size or payload[:3] != MAGIC:
        raise DecodeError("wrong_encoding", "expected a binary frame starting with b'PWB'")
    _, version, hlen = _FRAME_HEAD.unpack_from(payload)
    if version != WIRE_VERSION:
        raise DecodeError(
            "unsupported_version", f"frame version {version}; supported {WIRE_VERSION}"
        )
    if hlen > MAX_HEADER_BYTES or _FRAME_HEAD.size + hlen > len(payload):
        raise DecodeError("malformed", f"header length {hlen} exceeds the payload")
    doc = _json(payload[_FRAME_HEAD.size : _FRAME_HEAD.size + hlen])
    if doc.get("dtype") != dtype.str:
        raise DecodeError("wrong_type", f"dtype {doc.get('dtype')!r}; expected {dtype.str!r}")
    shape = _field(doc, "shape", list)
    if not shape or not all(isinstance(n, int) and 0 < n < 1 << 24 for n in shape):
        raise DecodeError("wrong_shape", f"shape {shape!r}")
    data = memoryview(payload)[_FRAME_HEAD.size + hlen :]
    expected = math.prod(shape) * dtype.itemsize
    if len(data) != expected:
        raise DecodeError("wrong_shape", f"{len(data)} data bytes; shape {shape} needs {expected}")
    return doc, np.frombuffer(data, dtype=dtype).reshape(shape)


def _header(asset: str, sensor: str, doc: dict[str, Any]) -> Header:
    version = doc.get("v")
    if version != WIRE_VERSION:
        raise DecodeError("unsupported_version", f"v={version!r}; supported {WIRE_VERSION}")
    q = _field(doc, "quality", str)
    try:
        quality = Quality[q.upper()]
    except KeyError:
        raise DecodeError("bad_value", f"quality {q!r}; use good, uncertain or bad") from None
    return Header(asset, sensor, _int(doc, "ts_ns"), _int(doc, "epoch"), _int(doc, "seq"), quality)


def _field(doc: dict[str, Any], key: str, kind: type) -> Any:
    if key not in doc:
        raise DecodeError("missing_field", f"{key!r} is missing")
    value = doc[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise DecodeError(
            "wrong_type", f"{key!r} is {type(value).__name__}, expected {kind.__name__}"
        )
    return value


def _int(doc: dict[str, Any], key: str) -> int:
    value = _field(doc, key, int)
    if not -(1 << 63) <= value < 1 << 63:
        raise DecodeError("bad_value", f"{key}={value} does not fit int64")
    return value


def _number(doc: dict[str, Any], key: str) -> float:
    if key not in doc:
        raise DecodeError("missing_field", f"{key!r} is missing")
    value = doc[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DecodeError("wrong_type", f"{key!r} is {type(value).__name__}, expected a number")
    value = float(value)
    if not math.isfinite(value):
        raise DecodeError("non_finite", f"{key}={value}")
    return value
