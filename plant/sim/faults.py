"""The fault table: what each fault class does, where it shows and how fast it grows.

Every simulated signature reads its strength from here, so the table in docs/SIMULATOR.md and
the data agree. A fault's *visibility* in a modality is ``gain * ramp(severity, onset)``: nothing
below ``onset`` severity, then a linear rise to ``gain`` at functional failure. The primary
modality is the one with the largest gain. Notes are special: an operator writes about a fault
only once its severity has passed ``notice_severity`` (noise, heat to the touch, a visible leak),
and only with probability ``p_noted`` per episode (some faults are never written up).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from plant.config import AssetType
from plant.labels import FaultClass
from plant.readings import Modality

V, T, C, N = Modality.VIBRATION, Modality.THERMAL, Modality.CAMERA, Modality.NOTES
ALL_TYPES = frozenset(AssetType)
ROTATING_NO_GEAR = frozenset({AssetType.MOTOR_PUMP, AssetType.FAN, AssetType.COMPRESSOR})


@dataclasses.dataclass(frozen=True, slots=True)
class Sign:
    """How strongly a fault shows in one modality: ``gain * ramp(severity, onset)``."""

    gain: float  # visibility at functional failure, 0..1 (1: as strong as the primary gets)
    onset: float = 0.0  # severity below which the modality shows nothing

    def visibility(self, severity: np.ndarray | float) -> np.ndarray:
        s = np.asarray(severity, dtype=np.float64)
        return self.gain * np.clip((s - self.onset) / (1.0 - self.onset), 0.0, 1.0)


@dataclasses.dataclass(frozen=True, slots=True)
class FaultSpec:
    """One row of the fault table."""

    fault: FaultClass
    asset_types: frozenset[AssetType]
    signs: dict[Modality, Sign]  # model modalities other than notes
    duration_factor: tuple[float, float]  # x SimulationConfig.degradation_days
    growth_exponent: float
    notice_severity: float | None  # None: an operator cannot perceive it
    p_noted: float  # chance an episode is ever written up, once noticeable
    weight: float = 1.0  # relative arrival rate among the faults an asset can get
    heat: dict[str, float] = dataclasses.field(default_factory=dict)  # probe kind -> max rise, °C
    camera_defect: str = ""  # defect the camera renders (see plant.sim.camera)
    # The vibration mechanism the physics model simulates for it (None: the fault itself): a
    # casing crack loosens the structure; a worn seal rubs like a starved bearing, weakly.
    vibration_mechanism: FaultClass | None = None
    # Severity at onset: the P point of the P-F curve, the smallest size at which the fault's
    # conventional check in its primary modality finds it (calibrated in docs/SIMULATOR.md:
    # vibration reliably from ~0.3, a ball fault's 2xBSF from ~0.4-0.5, heat of 8-12 degC at
    # 0.25, weak camera defects only from ~0.5). Episodes start at this size and grow to 1.
    onset_severity: float = 0.3

    @property
    def primary(self) -> Modality:
        return max(self.signs, key=lambda m: self.signs[m].gain)

    @property
    def visible_in(self) -> frozenset[Modality]:
        mods = {m for m, s in self.signs.items() if s.gain > 0}
        if self.notice_severity is not None and self.p_noted > 0:
            mods.add(N)
        return frozenset(mods)

    def visibility(self, modality: Modality, severity: np.ndarray | float) -> np.ndarray:
        sign = self.signs.get(modality)
        if sign is None:
            return np.zeros(np.shape(severity))
        return sign.visibility(severity)


def _spec(fault: FaultClass, types: frozenset[AssetType], signs: dict, **kw: object) -> FaultSpec:
    return FaultSpec(fault=fault, asset_types=types, signs=signs, **kw)  # type: ignore[arg-type]


F = FaultClass
FAULT_TABLE: dict[FaultClass, FaultSpec] = {
    s.fault: s
    for s in (
        # Bearing defects: vibration from onset; friction heat only late; noise a human hears late.
        _spec(
            F.BEARING_OUTER,
            ALL_TYPES,
            {V: Sign(1.0), T: Sign(0.3, 0.6)},
            duration_factor=(0.8, 1.5),
            growth_exponent=2.5,
            notice_severity=0.55,
            p_noted=0.7,
            weight=1.5,
            heat={"bearing": 12.0},
        ),
        _spec(
            F.BEARING_INNER,
            ALL_TYPES,
            {V: Sign(1.0), T: Sign(0.3, 0.6)},
            duration_factor=(0.6, 1.2),
            growth_exponent=2.5,
            notice_severity=0.6,
            p_noted=0.7,
            weight=1.2,
            heat={"bearing": 12.0},
        ),
        _spec(
            F.BEARING_BALL,
            ALL_TYPES,
            {V: Sign(1.0), T: Sign(0.25, 0.7)},
            duration_factor=(0.6, 1.2),
            growth_exponent=2.5,
            notice_severity=0.65,
            p_noted=0.6,
            weight=0.8,
            heat={"bearing": 10.0},
            onset_severity=0.4,
        ),
        _spec(
            F.IMBALANCE,
            ROTATING_NO_GEAR,
            {V: Sign(1.0)},
            duration_factor=(1.0, 2.0),
            growth_exponent=1.5,
            notice_severity=0.6,
            p_noted=0.6,
        ),
        _spec(
            F.MISALIGNMENT,
            ALL_TYPES,
            {V: Sign(1.0), T: Sign(0.3, 0.4)},
            duration_factor=(1.0, 2.0),
            growth_exponent=1.5,
            notice_severity=0.6,
            p_noted=0.5,
            heat={"bearing": 8.0},
        ),
        # Looseness rattles; late on a bolt is visibly gone.
        _spec(
            F.LOOSENESS,
            ALL_TYPES,
            {V: Sign(1.0), C: Sign(0.4, 0.6)},
            duration_factor=(0.7, 1.5),
            growth_exponent=2.0,
            notice_severity=0.5,
            p_noted=0.7,
            camera_defect="missing_bolt",
        ),
        _spec(
            F.GEAR_TOOTH,
            frozenset({AssetType.GEARBOX}),
            {V: Sign(1.0), T: Sign(0.2, 0.7)},
            duration_factor=(0.8, 1.5),
            growth_exponent=2.5,
            notice_severity=0.6,
            p_noted=0.6,
            weight=2.0,
            heat={"bearing": 6.0},
        ),
        # Lubrication starvation couples modalities as physics does: heat, HF vibration, a leak.
        _spec(
            F.LUBRICATION_STARVATION,
            ALL_TYPES,
            {T: Sign(1.0), V: Sign(0.6, 0.2), C: Sign(0.5, 0.3)},
            duration_factor=(0.5, 1.0),
            growth_exponent=2.0,
            notice_severity=0.45,
            p_noted=0.8,
            heat={"bearing": 30.0},
            camera_defect="leak_stain",
            onset_severity=0.25,
        ),
        # Cooling failure: the winding heats; the casing discolours only near the end.
        _spec(
            F.COOLING_FAILURE,
            ROTATING_NO_GEAR,
            {T: Sign(1.0), C: Sign(0.15, 0.7)},
            duration_factor=(0.3, 0.8),
            growth_exponent=1.5,
            notice_severity=0.6,
            p_noted=0.6,
            heat={"winding": 40.0, "bearing": 5.0},
            camera_defect="discolouration",
            onset_severity=0.25,
        ),
        _spec(
            F.CASING_CRACK,
            ALL_TYPES,
            {C: Sign(1.0), V: Sign(0.2, 0.5)},
            duration_factor=(1.0, 2.0),
            growth_exponent=1.5,
            notice_severity=None,
            p_noted=0.0,
            camera_defect="crack",
            vibration_mechanism=F.LOOSENESS,
            onset_severity=0.5,
        ),
        _spec(
            F.OIL_LEAK,
            frozenset({AssetType.GEARBOX, AssetType.COMPRESSOR, AssetType.MOTOR_PUMP}),
            {C: Sign(1.0)},
            duration_factor=(0.8, 1.5),
            growth_exponent=1.5,
            notice_severity=0.3,
            p_noted=0.7,
            weight=1.2,
            camera_defect="leak_stain",
        ),
        _spec(
            F.CORROSION,
            ALL_TYPES,
            {C: Sign(1.0)},
            duration_factor=(1.5, 3.0),
            growth_exponent=1.2,
            notice_severity=0.7,
            p_noted=0.3,
            weight=0.7,
            camera_defect="corrosion",
            onset_severity=0.5,
        ),
        _spec(
            F.MISSING_GUARD,
            ALL_TYPES,
            {C: Sign(1.0, 0.3)},
            duration_factor=(0.3, 0.8),
            growth_exponent=1.0,
            notice_severity=0.5,
            p_noted=0.5,
            weight=0.5,
            camera_defect="missing_guard",
            onset_severity=0.5,
        ),
        # Seal wear: weak signs in several modalities, clear only when combined.
        _spec(
            F.SEAL_WEAR,
            frozenset({AssetType.MOTOR_PUMP, AssetType.COMPRESSOR}),
            {T: Sign(0.35, 0.2), V: Sign(0.3, 0.2), C: Sign(0.3, 0.3)},
            duration_factor=(1.0, 2.0),
            growth_exponent=1.5,
            notice_severity=0.7,
            p_noted=0.4,
            heat={"bearing": 6.0},
            camera_defect="leak_stain",
            vibration_mechanism=F.LUBRICATION_STARVATION,
        ),
    )
}


def faults_for(asset_type: AssetType | str) -> tuple[FaultSpec, ...]:
    """The faults an asset of this type can develop, in table order."""
    t = AssetType(asset_type)
    return tuple(s for s in FAULT_TABLE.values() if t in s.asset_types)


def check_table() -> None:
    """Raise if the table breaks its own rules (used by tests and at import in debug runs)."""
    missing = set(FaultClass) - {F.NORMAL} - set(FAULT_TABLE)
    if missing:
        raise ValueError(f"fault table lacks {sorted(missing)}")
    primaries = {s.primary for s in FAULT_TABLE.values()}
    for m in (V, T, C):
        if m not in primaries:
            raise ValueError(f"no fault has {m} as its primary modality")
