"""Sites, areas, assets and sensors of a plant, as the TOML config declares them."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Self

from pydantic import Field, field_validator, model_validator

from plant.config.base import Section
from plant.readings import Modality
from plant.topics import ID_PATTERN

Id = Annotated[str, Field(pattern=ID_PATTERN.pattern, description="one MQTT topic level")]


class AssetType(StrEnum):
    MOTOR_PUMP = "motor-pump"
    FAN = "fan"
    GEARBOX = "gearbox"
    COMPRESSOR = "compressor"


class Foundation(StrEnum):
    RIGID = "rigid"
    FLEXIBLE = "flexible"


class BearingGeometry(Section):
    """Rolling-element bearing geometry, from which BPFO/BPFI/BSF/FTF follow."""

    n_elements: int = Field(ge=3, le=60, description="number of rolling elements")
    ball_diameter_mm: float = Field(gt=0, le=200, description="rolling element diameter")
    pitch_diameter_mm: float = Field(gt=0, le=2000, description="pitch circle diameter")
    contact_angle_deg: float = Field(default=0.0, ge=0, lt=60, description="contact angle")

    @model_validator(mode="after")
    def _ball_smaller_than_pitch(self) -> Self:
        if self.ball_diameter_mm >= self.pitch_diameter_mm:
            raise ValueError(
                f"ball_diameter_mm {self.ball_diameter_mm} must be below "
                f"pitch_diameter_mm {self.pitch_diameter_mm}"
            )
        return self


class GearStage(Section):
    """One gear mesh: teeth on the input (shaft the speed refers to) and output gear."""

    input_teeth: int = Field(ge=5, le=500)
    output_teeth: int = Field(ge=5, le=500)


class SensorConfig(Section):
    """One sensor: a message per ``period_s`` carrying all ``channels``."""

    id: Id
    modality: Modality
    channels: tuple[Id, ...] = Field(default=(), description="channel names carried per message")
    sample_rate_hz: float | None = Field(
        default=None, gt=100, le=200_000, description="vibration only: sampling rate"
    )
    snapshot_s: float | None = Field(
        default=None, gt=0, le=10, description="vibration only: snapshot length in seconds"
    )
    image_size: int | None = Field(
        default=None, ge=16, le=512, description="camera only: square image side, pixels"
    )
    period_s: float = Field(gt=0, le=86_400 * 7, description="publish period in seconds")

    @model_validator(mode="after")
    def _modality_fields(self) -> Self:
        vib = self.modality is Modality.VIBRATION
        if vib and (self.sample_rate_hz is None or self.snapshot_s is None):
            raise ValueError("a vibration sensor needs sample_rate_hz and snapshot_s")
        if not vib and (self.sample_rate_hz is not None or self.snapshot_s is not None):
            raise ValueError(f"sample_rate_hz/snapshot_s apply to vibration, not {self.modality}")
        if self.modality is Modality.CAMERA and self.image_size is None:
            raise ValueError("a camera sensor needs image_size")
        if self.modality in (Modality.VIBRATION, Modality.THERMAL) and not self.channels:
            raise ValueError(f"a {self.modality} sensor needs channels")
        return self

    @property
    def samples_per_snapshot(self) -> int:
        assert self.sample_rate_hz is not None and self.snapshot_s is not None
        return round(self.sample_rate_hz * self.snapshot_s)


class Profile(Section):
    """A reusable sensor fit-out, referenced by assets with ``profile = "<id>"``."""

    id: Id
    sensors: tuple[SensorConfig, ...] = Field(min_length=1)


class AssetConfig(Section):
    """One machine (or, with ``count`` > 1, a family of identical machines)."""

    id: Id = Field(description="asset id; with count > 1, a prefix numbered -001, -002, ...")
    area: Id
    type: AssetType
    speed_rpm: tuple[float, float] = Field(description="[min, max] shaft speed in rpm")
    rated_power_kw: float = Field(default=30.0, gt=0, le=100_000)
    bearing: BearingGeometry
    gear: GearStage | None = Field(default=None, description="gearbox only")
    iso_group: int = Field(default=2, ge=1, le=4, description="ISO 20816-3 machine group")
    foundation: Foundation = Foundation.RIGID
    profile: Id | None = Field(default=None, description="id of a profile supplying sensors")
    sensors: tuple[SensorConfig, ...] = Field(default=(), description="sensors of this asset")
    count: int = Field(default=1, ge=1, le=100_000, description="number of identical assets")

    @field_validator("speed_rpm", mode="before")
    @classmethod
    def _speed_scalar(cls, v: object) -> object:
        return (v, v) if isinstance(v, int | float) else v

    @field_validator("speed_rpm")
    @classmethod
    def _speed_range(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not 10 <= v[0] <= v[1] <= 60_000:
            raise ValueError(
                f"must be [min, max] with 10 <= min <= max <= 60000 rpm, got {list(v)}"
            )
        return v

    @model_validator(mode="after")
    def _checks(self) -> Self:
        if (self.type is AssetType.GEARBOX) != (self.gear is not None):
            raise ValueError("gear is required for a gearbox and only for a gearbox")
        return self
