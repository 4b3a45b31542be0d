"""Validation: each kind of bad message gets its own reason; good ones pass untouched."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from ingest.validate import Accepted, Rejected, Validator
from plant import codec, topics
from plant.readings import (
    CameraImage,
    ContextReading,
    Header,
    MachineState,
    Modality,
    ThermalReading,
    VibrationSnapshot,
)
from tests.ingest_helpers import plant_config

PLANT = plant_config()
A = PLANT.resolved_assets[0]
NOW = time.time_ns()


def _topic(sensor: str, modality: Modality, asset: str = A.id, area: str = A.area) -> str:
    return topics.reading_topic(A.site, area, asset, sensor, modality)


def _h(sensor: str, ts_ns: int = NOW, seq: int = 1) -> Header:
    return Header(A.id, sensor, ts_ns, 1, seq)


def _thermal(**values: float) -> bytes:
    return codec.encode(ThermalReading(_h("temp"), values or {"bearing_de": 50.0}))


def _context(speed: float = 24.0, load: float = 0.8, ambient: float = 20.0) -> bytes:
    return codec.encode(ContextReading(_h("ctx"), speed, load, ambient, MachineState.RUNNING))


def _vib(peak: float = 1.0, channels=("x", "y", "z"), rate: float = 12800.0) -> bytes:
    samples = np.full((len(channels), 12800), peak, np.float32)
    return codec.encode(VibrationSnapshot(_h("vib-de"), rate, channels, samples))


THERMAL = _topic("temp", Modality.THERMAL)
CASES = [
    ("bad_topic", "plantwatch/v1/health/demo/pumphouse/P-101", _thermal()),
    ("bad_topic", "plantwatch/v1/readings/demo/pumphouse/P-101/temp/sound", _thermal()),
    ("unknown_asset", _topic("temp", Modality.THERMAL, asset="X-999"), _thermal()),
    ("unknown_asset", _topic("temp", Modality.THERMAL, area="utilities"), _thermal()),
    ("unknown_sensor", _topic("temp9", Modality.THERMAL), _thermal()),
    ("modality_mismatch", _topic("temp", Modality.CONTEXT), _context()),
    ("oversized", THERMAL, b" " * (PLANT.ingest.max_payload_bytes + 1)),
    ("malformed", THERMAL, b"not json"),
    ("non_finite", THERMAL, _thermal().replace(b"50.0", b"NaN")),
    ("wrong_units", THERMAL, _thermal().replace(b'"degC"', b'"degF"')),
    ("impossible_value", THERMAL, _thermal(bearing_de=-80.0)),
    ("impossible_value", THERMAL, _thermal(bearing_de=401.0)),
    ("config_mismatch", THERMAL, _thermal(bearing_xx=40.0)),
    ("impossible_value", _topic("ctx", Modality.CONTEXT), _context(speed=-1.0)),
    ("impossible_value", _topic("ctx", Modality.CONTEXT), _context(load=2.5)),
    ("impossible_value", _topic("vib-de", Modality.VIBRATION), _vib(peak=6000.0)),
    ("non_finite", _topic("vib-de", Modality.VIBRATION), _vib(peak=float("inf"))),
    ("config_mismatch", _topic("vib-de", Modality.VIBRATION), _vib(channels=("x", "y"))),
    ("config_mismatch", _topic("vib-de", Modality.VIBRATION), _vib(rate=25600.0)),
    ("wrong_encoding", _topic("vib-de", Modality.VIBRATION), _thermal()),
    (
        "timestamp_future",
        THERMAL,
        _thermal().replace(str(NOW).encode(), str(NOW + 10**12).encode()),
    ),
    ("timestamp_past", THERMAL, _thermal().replace(str(NOW).encode(), b"1000")),
]


@pytest.mark.parametrize(("reason", "topic", "payload"), CASES)
def test_bad_message_is_rejected_with_its_reason(reason, topic, payload):
    result = Validator(PLANT).check(topic, payload, NOW)
    assert isinstance(result, Rejected), result
    assert result.reason == reason, result.detail
    assert result.detail


def test_good_readings_of_every_modality_are_accepted():
    image = np.zeros((64, 64, 3), np.uint8)
    good = [
        (THERMAL, _thermal()),
        (_topic("ctx", Modality.CONTEXT), _context()),
        (_topic("vib-de", Modality.VIBRATION), _vib()),
        (_topic("cam", Modality.CAMERA), codec.encode(CameraImage(_h("cam"), image))),
    ]
    for topic, payload in good:
        result = Validator(PLANT).check(topic, payload, NOW)
        assert isinstance(result, Accepted), (topic, result)
        assert result.reading.header.asset == A.id


def test_camera_image_of_the_wrong_size_is_a_config_mismatch():
    image = np.zeros((32, 32, 3), np.uint8)
    payload = codec.encode(CameraImage(_h("cam"), image))
    result = Validator(PLANT).check(_topic("cam", Modality.CAMERA), payload, NOW)
    assert isinstance(result, Rejected) and result.reason == "config_mismatch"


def test_limits_come_from_the_ingest_config():
    strict = PLANT.ingest.model_copy(update={"max_future_s": 1.0})
    doc = json.loads(_thermal())
    doc["ts_ns"] = NOW + 5 * 10**9  # 5 s ahead: fine by default, too far for 1 s
    payload = json.dumps(doc).encode()
    assert isinstance(Validator(PLANT).check(THERMAL, payload, NOW), Accepted)
    result = Validator(PLANT, strict).check(THERMAL, payload, NOW)
    assert isinstance(result, Rejected) and result.reason == "timestamp_future"


def test_an_unexpected_failure_is_a_dead_letter_not_a_crash(monkeypatch):
    def boom(*_a: object) -> None:
        raise RuntimeError("unforeseen")

    monkeypatch.setattr(codec, "decode", boom)
    result = Validator(PLANT).check(THERMAL, _thermal(), NOW)
    assert isinstance(result, Rejected) and result.reason == "internal_error"
