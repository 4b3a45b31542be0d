"""Decode and validate one MQTT message against the wire contract and the plant config.

Every message ends as exactly one of :class:`Accepted` (a reading to store) or :class:`Rejected`
(a dead letter with a stable ``reason`` code and a human ``detail``). Nothing here raises on bad
input: any defect, including ones nobody foresaw, becomes a ``Rejected``.

Reasons (beside the codec's ``malformed``, ``wrong_encoding``, ``unsupported_version``,
``missing_field``, ``wrong_type``, ``wrong_shape``, ``wrong_units``, ``non_finite``,
``bad_value``): ``bad_topic``, ``oversized``, ``unknown_asset``, ``unknown_sensor``,
``modality_mismatch``, ``config_mismatch``, ``impossible_value``, ``timestamp_future``,
``timestamp_past``, ``internal_error``.
"""

from __future__ import annotations

import dataclasses
import logging
import math

import numpy as np

from plant import codec, topics
from plant.config import IngestConfig, PlantConfig
from plant.config.assets import SensorConfig
from plant.readings import (
    CameraImage,
    ContextReading,
    OperatorNote,
    Reading,
    ThermalReading,
    VibrationSnapshot,
)

log = logging.getLogger(__name__)

# Physical plausibility: values outside these are sensor or gateway faults, not machine states.
TEMPERATURE_RANGE_C = (-60.0, 400.0)
AMBIENT_RANGE_C = (-60.0, 80.0)
MAX_ACCEL_M_S2 = 5000.0
MAX_SHAFT_SPEED_HZ = 1000.0  # 60,000 rpm, the config's own upper bound
LOAD_RANGE = (0.0, 2.0)
MAX_NOTE_CHARS = 20_000
TOPIC_CACHE_SIZE = 200_000  # resolved topics kept (10,000 assets x 5 sensors = 50,000)


CODEC_REASONS = frozenset(
    {"malformed", "wrong_encoding", "unsupported_version", "missing_field", "wrong_type"}
    | {"wrong_shape", "wrong_units", "non_finite", "bad_value"}
)
REASONS = CODEC_REASONS | {
    "bad_topic",
    "oversized",
    "unknown_asset",
    "unknown_sensor",
    "modality_mismatch",
    "config_mismatch",
    "impossible_value",
    "timestamp_future",
    "timestamp_past",
    "internal_error",
}


@dataclasses.dataclass(frozen=True, slots=True)
class Accepted:
    reading: Reading
    topic: topics.ReadingTopic


@dataclasses.dataclass(frozen=True, slots=True)
class Rejected:
    reason: str
    detail: str


class Invalid(ValueError):  # noqa: N818 (a verdict, not a failure)
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class Validator:
    """Checks messages for one plant; cheap to call from one worker thread."""

    def __init__(self, plant: PlantConfig, limits: IngestConfig | None = None) -> None:
        self.limits = limits or plant.ingest
        self._sensors: dict[tuple[str, str], SensorConfig] = {
            (a.id, s.id): s for a in plant.resolved_assets for s in a.sensors
        }
        self._assets = {a.id: a for a in plant.resolved_assets}
        self._topics: dict[str, tuple[topics.ReadingTopic, SensorConfig] | Rejected] = {}

    def check(self, topic: str, payload: bytes, arrival_ns: int) -> Accepted | Rejected:
        try:
            return self._check(topic, payload, arrival_ns)
        except (Invalid, codec.DecodeError) as exc:
            return Rejected(exc.reason, exc.detail)
        except Exception as exc:  # an unforeseen defect is still a dead letter, never a crash
            log.exception("validation failed unexpectedly on %r", topic[:200])
            return Rejected("internal_error", f"{type(exc).__name__}: {exc}")

    def _check(self, topic: str, payload: bytes, arrival_ns: int) -> Accepted:
        if len(payload) > self.limits.max_payload_bytes:
            raise Invalid(
                "oversized", f"{len(payload)} bytes > limit {self.limits.max_payload_bytes}"
            )
        found = self._topics.get(topic)
        if found is None:
            found = self._resolve(topic)
            if len(self._topics) >= TOPIC_CACHE_SIZE:
                self._topics.clear()  # bounded: fuzzed or hostile topics cannot grow it
            self._topics[topic] = found
        if isinstance(found, Rejected):
            raise Invalid(found.reason, found.detail)
        where, sensor = found
        reading = codec.decode(where.asset, where.sensor, where.modality, payload)
        self._check_header(reading, arrival_ns)
        _check_values(reading, sensor)
        return Accepted(reading, where)

    def _resolve(self, topic: str) -> tuple[topics.ReadingTopic, SensorConfig] | Rejected:
        """The topic's identity and sensor config, or why it names no configured sensor."""
        try:
            return self._resolve_or_raise(topic)
        except Invalid as exc:
            return Rejected(exc.reason, exc.detail)

    def _resolve_or_raise(self, topic: str) -> tuple[topics.ReadingTopic, SensorConfig]:
        try:
            where = topics.parse_reading_topic(topic)
        except topics.TopicError as exc:
            raise Invalid("bad_topic", str(exc)) from None
        asset = self._assets.get(where.asset)
        if asset is None:
            raise Invalid("unknown_asset", f"asset {where.asset!r} is not in the plant config")
        if asset.site != where.site or asset.area != where.area:
            raise Invalid(
                "unknown_asset",
                f"asset {where.asset!r} is at {asset.site}/{asset.area}, "
                f"not {where.site}/{where.area}",
            )
        sensor = self._sensors.get((where.asset, where.sensor))
        if sensor is None:
            raise Invalid("unknown_sensor", f"asset {where.asset!r} has no sensor {where.sensor!r}")
        if sensor.modality is not where.modality:
            raise Invalid(
                "modality_mismatch",
                f"sensor {where.sensor!r} is {sensor.modality.value}, topic says "
                f"{where.modality.value}",
            )
        return where, sensor

    def _check_header(self, reading: Reading, arrival_ns: int) -> None:
        h = reading.header
        if h.epoch < 0 or h.seq < 0:
            raise Invalid("bad_value", f"epoch={h.epoch} seq={h.seq}; both must be >= 0")
        ahead_s = (h.ts_ns - arrival_ns) / 1e9
        if ahead_s > self.limits.max_future_s:
            raise Invalid(
                "timestamp_future",
                f"ts_ns {h.ts_ns} is {ahead_s:.0f} s after arrival "
                f"(limit {self.limits.max_future_s:.0f} s): check the gateway clock",
            )
        if -ahead_s > self.limits.max_past_s:
            raise Invalid(
                "timestamp_past",
                f"ts_ns {h.ts_ns} is {-ahead_s:.0f} s before arrival "
                f"(limit {self.limits.max_past_s:.0f} s): use `plantwatch import` for history",
            )


def _check_values(reading: Reading, sensor: SensorConfig) -> None:
    match reading:
        case VibrationSnapshot():
            _check_vibration(reading, sensor)
        case ThermalReading():
            unknown = set(reading.values_c) - set(sensor.channels) if sensor.channels else set()
            if unknown:
                raise Invalid(
                    "config_mismatch", f"probes {sorted(unknown)} not in {list(sensor.channels)}"
                )
            for name, value in reading.values_c.items():
                _in_range(f"values.{name}", value, TEMPERATURE_RANGE_C)
        case ContextReading():
            _in_range("shaft_speed_hz", reading.shaft_speed_hz, (0.0, MAX_SHAFT_SPEED_HZ))
            _in_range("load_fraction", reading.load_fraction, LOAD_RANGE)
            _in_range("ambient_c", reading.ambient_c, AMBIENT_RANGE_C)
        case CameraImage():
            side = sensor.image_size
            if side is not None and reading.pixels.shape[:2] != (side, side):
                raise Invalid(
                    "config_mismatch",
                    f"image {reading.pixels.shape[:2]}; sensor is configured {side}x{side}",
                )
        case OperatorNote():
            if len(reading.text) > MAX_NOTE_CHARS:
                raise Invalid("oversized", f"note of {len(reading.text)} > {MAX_NOTE_CHARS} chars")


def _check_vibration(reading: VibrationSnapshot, sensor: SensorConfig) -> None:
    if sensor.channels and reading.channels != tuple(sensor.channels):
        raise Invalid(
            "config_mismatch",
            f"channels {list(reading.channels)}; expected {list(sensor.channels)}",
        )
    rate = reading.sample_rate_hz
    if sensor.sample_rate_hz is not None and not math.isclose(rate, sensor.sample_rate_hz):
        raise Invalid(
            "config_mismatch",
            f"sample_rate_hz {rate}; sensor is configured {sensor.sample_rate_hz}",
        )
    samples = reading.samples
    # One pass each for min and max (no temporaries): NaN propagates through both, and an
    # infinity is their value, so a non-finite snapshot never passes as finite.
    lo, hi = float(samples.min()), float(samples.max())
    if not (math.isfinite(lo) and math.isfinite(hi)):
        bad = int(samples.size - np.count_nonzero(np.isfinite(samples)))
        raise Invalid("non_finite", f"{bad} samples are NaN or infinite")
    peak = max(-lo, hi)
    if peak > MAX_ACCEL_M_S2:
        raise Invalid(
            "impossible_value", f"|a| = {peak:.1f} m/s2 > {MAX_ACCEL_M_S2} m/s2 (check g vs m/s2)"
        )


def _in_range(name: str, value: float, bounds: tuple[float, float]) -> None:
    lo, hi = bounds
    if not lo <= value <= hi:
        raise Invalid("impossible_value", f"{name} = {value} outside [{lo}, {hi}]")
