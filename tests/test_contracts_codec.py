"""Wire codec round trips (property-based) and decode errors with stable reasons."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from plant.codec import DecodeError, decode, encode
from plant.readings import (
    CameraImage,
    ContextReading,
    Header,
    MachineState,
    Modality,
    OperatorNote,
    Quality,
    ThermalReading,
    VibrationSnapshot,
)

ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,20}", fullmatch=True)
finite = st.floats(allow_nan=False, allow_infinity=False, width=64, min_value=-1e6, max_value=1e6)
headers = st.builds(
    Header,
    asset=ids,
    sensor=ids,
    ts_ns=st.integers(0, 2**62),
    epoch=st.integers(0, 2**40),
    seq=st.integers(0, 2**62),
    quality=st.sampled_from(Quality),
)


@st.composite
def vibration(draw: st.DrawFn) -> VibrationSnapshot:
    n_ch = draw(st.integers(1, 3))
    n = draw(st.integers(8, 256))
    arr = draw(hnp.arrays(np.float32, (n_ch, n), elements=st.floats(-1e3, 1e3, width=32)))
    rate = draw(st.floats(100, 100_000, allow_nan=False))
    return VibrationSnapshot(draw(headers), rate, tuple(f"c{i}" for i in range(n_ch)), arr)


@st.composite
def camera(draw: st.DrawFn) -> CameraImage:
    h, w = draw(st.integers(8, 32)), draw(st.integers(8, 32))
    return CameraImage(draw(headers), draw(hnp.arrays(np.uint8, (h, w, 3))))


thermal = st.builds(ThermalReading, headers, st.dictionaries(ids, finite, min_size=1, max_size=5))
context = st.builds(ContextReading, headers, finite, finite, finite, st.sampled_from(MachineState))
notes = st.builds(OperatorNote, headers, st.text(max_size=300), st.text(max_size=30))
readings = st.one_of(vibration(), camera(), thermal, context, notes)


@given(readings)
@settings(max_examples=300, deadline=None)
def test_every_reading_survives_encode_then_decode(reading) -> None:
    h = reading.header
    back = decode(h.asset, h.sensor, reading.modality, encode(reading))
    assert back == reading


def test_binary_frame_is_compact_for_a_vibration_snapshot() -> None:
    samples = np.zeros((3, 12800), np.float32)
    r = VibrationSnapshot(Header("P-1", "vib", 1, 1, 1), 12800.0, ("x", "y", "z"), samples)
    payload = encode(r)
    assert len(payload) < samples.nbytes + 300


def _thermal_doc(**overrides) -> bytes:
    doc = {
        "v": 1,
        "ts_ns": 1,
        "epoch": 1,
        "seq": 1,
        "quality": "good",
        "units": "degC",
        "values": {"bearing_de": 40.0},
    }
    doc.update(overrides)
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"not json", "malformed"),
        (b"[1, 2]", "malformed"),
        (_thermal_doc(v=2), "unsupported_version"),
        (_thermal_doc(units="degF"), "wrong_units"),
        (_thermal_doc(values={"a": "hot"}), "wrong_type"),
        (_thermal_doc(values={}), "missing_field"),
        (_thermal_doc(seq="7"), "wrong_type"),
        (_thermal_doc(quality="excellent"), "bad_value"),
        (_thermal_doc(ts_ns=2**70), "bad_value"),
        (
            b'{"v":1,"ts_ns":1,"epoch":1,"seq":1,"quality":"good","units":"degC",'
            b'"values":{"a":NaN}}',
            "non_finite",
        ),
        (b"PWB\x01\x00\x00\x00\x00", "wrong_encoding"),
    ],
)
def test_bad_thermal_payloads_are_refused_with_their_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as err:
        decode("P-1", "temp", Modality.THERMAL, payload)
    assert err.value.reason == reason


def test_truncated_vibration_frame_is_refused_as_wrong_shape() -> None:
    r = VibrationSnapshot(Header("P-1", "v", 1, 1, 1), 1000.0, ("x",), np.ones((1, 64), np.float32))
    with pytest.raises(DecodeError) as err:
        decode("P-1", "v", Modality.VIBRATION, encode(r)[:-4])
    assert err.value.reason == "wrong_shape"


@given(st.binary(max_size=200), st.sampled_from(list(Modality)))
@settings(max_examples=500, deadline=None)
def test_arbitrary_bytes_never_raise_anything_but_decode_error(payload: bytes, modality) -> None:
    try:
        decode("P-1", "s", modality, payload)
    except DecodeError as exc:
        assert exc.reason
