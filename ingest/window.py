"""The multimodal window: what window assembly yields and what the model scores.

Training and the live scorer both get windows from ingest's window assembly, so offline figures
are the live system's figures. A modality that is absent or stale is ``None``/empty and marked so
in ``present``; it is never zero-filled here.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from plant.readings import (
    MODEL_MODALITIES,
    CameraImage,
    ContextReading,
    Modality,
    OperatorNote,
    VibrationSnapshot,
)


@dataclasses.dataclass(frozen=True, slots=True)
class ThermalSeries:
    """Recent temperatures with the process context at the same times (aligned, resampled)."""

    ts_ns: np.ndarray  # (T,) int64, ascending
    channels: tuple[str, ...]
    temperature_c: np.ndarray  # (T, P) float32
    load_fraction: np.ndarray  # (T,) float32
    ambient_c: np.ndarray  # (T,) float32
    shaft_speed_hz: np.ndarray  # (T,) float32
    running: np.ndarray  # (T,) bool: machine state was running


@dataclasses.dataclass(frozen=True, slots=True)
class Window:
    """One asset at one time: the latest evidence per modality, with presence and staleness."""

    asset: str
    asset_type: str
    ts_ns: int  # the window's time: nothing after it is inside
    vibration: VibrationSnapshot | None
    thermal: ThermalSeries | None
    camera: CameraImage | None
    notes: tuple[OperatorNote, ...]  # written before ts_ns, within the notes look-back
    context: ContextReading | None  # latest process context at or before ts_ns
    staleness_s: dict[Modality, float]  # age of the newest reading per model modality
    trigger: Modality | None = None  # the modality whose arrival produced this window
    # shaft orders of the asset's kinematic lines (plant.physics.bearing.KINEMATIC_LINES), from
    # its bearing and gear geometry: where a condition monitor looks for defect lines
    kinematic_orders: tuple[float, ...] = ()

    @property
    def present(self) -> dict[Modality, bool]:
        return {
            Modality.VIBRATION: self.vibration is not None,
            Modality.THERMAL: self.thermal is not None and len(self.thermal.ts_ns) > 0,
            Modality.CAMERA: self.camera is not None,
            Modality.NOTES: len(self.notes) > 0,
        }

    @property
    def mask(self) -> np.ndarray:
        """(4,) bool in MODEL_MODALITIES order."""
        p = self.present
        return np.array([p[m] for m in MODEL_MODALITIES], dtype=bool)
