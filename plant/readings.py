"""The reading types: one message per sensor and time, carrying all of that sensor's channels.

These are the contract between the simulator, gateways, ingest, the store and the scorer.
Time is UTC int64 nanoseconds; units live in field names or in the ``units`` field.
"""

from __future__ import annotations

import dataclasses
from enum import IntEnum, StrEnum

import numpy as np


class Modality(StrEnum):
    """The kinds of evidence. The first four are model inputs; context makes them readable."""

    VIBRATION = "vibration"
    THERMAL = "thermal"
    CAMERA = "camera"
    NOTES = "notes"
    CONTEXT = "context"


MODEL_MODALITIES: tuple[Modality, ...] = (
    Modality.VIBRATION,
    Modality.THERMAL,
    Modality.CAMERA,
    Modality.NOTES,
)


class Quality(IntEnum):
    """OPC UA style quality flag, reduced to its three classes."""

    GOOD = 0
    UNCERTAIN = 1
    BAD = 2


class MachineState(StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"
    STARTING = "starting"
    MAINTENANCE = "maintenance"


# Units each modality's payload is expressed in; a reading in other units is refused by ingest.
UNITS: dict[Modality, str] = {
    Modality.VIBRATION: "m/s2",
    Modality.THERMAL: "degC",
    Modality.CAMERA: "rgb8",
    Modality.NOTES: "text",
    Modality.CONTEXT: "mixed",
}

CONTEXT_CHANNELS: tuple[str, ...] = ("shaft_speed_hz", "load_fraction", "ambient_c")


@dataclasses.dataclass(frozen=True, slots=True)
class Header:
    """What every reading carries. The deduplication key is (asset, sensor, epoch, seq)."""

    asset: str
    sensor: str
    ts_ns: int  # UTC, int64 nanoseconds since the Unix epoch
    epoch: int  # boot epoch of the publishing gateway/sensor; a restart takes a new one
    seq: int  # per-sensor sequence number within the epoch
    quality: Quality = Quality.GOOD

    @property
    def dedup_key(self) -> tuple[str, str, int, int]:
        return (self.asset, self.sensor, self.epoch, self.seq)


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class VibrationSnapshot:
    """A triaxial (or single-axis) acceleration snapshot. ``samples``: (C, N) float32, m/s²."""

    header: Header
    sample_rate_hz: float
    channels: tuple[str, ...]
    samples: np.ndarray  # (C, N) float32
    modality: Modality = Modality.VIBRATION
    units: str = UNITS[Modality.VIBRATION]

    def __eq__(self, other: object) -> bool:
        return _eq_with_array(self, other, "samples")


@dataclasses.dataclass(frozen=True, slots=True)
class ThermalReading:
    """All probes of one temperature module at one time, in °C, by probe name."""

    header: Header
    values_c: dict[str, float]
    modality: Modality = Modality.THERMAL
    units: str = UNITS[Modality.THERMAL]


@dataclasses.dataclass(frozen=True, slots=True)
class ContextReading:
    """Process context: speed, load, ambient and the machine state."""

    header: Header
    shaft_speed_hz: float
    load_fraction: float  # 0..1.2 of rated load
    ambient_c: float
    state: MachineState
    modality: Modality = Modality.CONTEXT
    units: str = UNITS[Modality.CONTEXT]


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class CameraImage:
    """An inspection photograph. ``pixels``: (H, W, 3) uint8 RGB."""

    header: Header
    pixels: np.ndarray  # (H, W, 3) uint8
    modality: Modality = Modality.CAMERA
    units: str = UNITS[Modality.CAMERA]

    def __eq__(self, other: object) -> bool:
        return _eq_with_array(self, other, "pixels")


@dataclasses.dataclass(frozen=True, slots=True)
class OperatorNote:
    """Free text from rounds or shift logs. ``author`` may hold personal data; ingest redacts."""

    header: Header
    text: str
    author: str = ""
    modality: Modality = Modality.NOTES
    units: str = UNITS[Modality.NOTES]


Reading = VibrationSnapshot | ThermalReading | ContextReading | CameraImage | OperatorNote

READING_TYPES: dict[Modality, type] = {
    Modality.VIBRATION: VibrationSnapshot,
    Modality.THERMAL: ThermalReading,
    Modality.CONTEXT: ContextReading,
    Modality.CAMERA: CameraImage,
    Modality.NOTES: OperatorNote,
}


def _eq_with_array(a: object, b: object, array_field: str) -> bool:
    if type(a) is not type(b):
        return False
    for f in dataclasses.fields(a):  # type: ignore[arg-type]
        x, y = getattr(a, f.name), getattr(b, f.name)
        if f.name == array_field:
            if x.shape != y.shape or x.dtype != y.dtype or not np.array_equal(x, y):
                return False
        elif x != y:
            return False
    return True
