"""Every fault shows in the modalities the fault table declares, growing with severity, and
nowhere else."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from plant.labels import FaultClass, FaultEpisode
from plant.readings import Modality
from plant.sim.asset import vibration_severities
from plant.sim.camera import CameraScene, camera_defects
from plant.sim.episodes import ScheduledFault
from plant.sim.faults import FAULT_TABLE, check_table
from plant.sim.notes import noticeable
from plant.sim.thermal import fault_heat_c
from plant.sim.vibration import VibrationModel
from tests.test_sim_support import DAY_NS, START_NS, plant

SEVERITIES = (0.0, 0.3, 0.6, 1.0)
CHANNELS = ("bearing_de", "bearing_nde", "winding")
FAULTS = [f for f in FaultClass if f is not FaultClass.NORMAL]


def at_severity(fault: FaultClass, severity: float, noted: bool = True) -> tuple:
    """A scheduled fault and the time at which its severity is ``severity``."""
    spec = FAULT_TABLE[fault]
    e = FaultEpisode(
        "X",
        fault,
        START_NS,
        START_NS + DAY_NS,
        START_NS + 2 * DAY_NS,
        spec.visible_in,
        spec.primary,
        spec.growth_exponent,
    )
    ts = START_NS + int(severity ** (1 / spec.growth_exponent) * DAY_NS) if severity else START_NS
    assert abs(float(e.severity(ts)) - severity) < 1e-3 or severity == 0
    return ScheduledFault(e, spec, noted, location=3), ts


def test_fault_table_is_complete_and_every_modality_leads_some_fault() -> None:
    check_table()
    primaries = {s.primary for s in FAULT_TABLE.values()}
    assert {Modality.VIBRATION, Modality.THERMAL, Modality.CAMERA} <= primaries
    for spec in FAULT_TABLE.values():
        assert spec.primary in spec.visible_in
    seal = FAULT_TABLE[FaultClass.SEAL_WEAR]  # weak everywhere, clear only combined
    assert len(seal.signs) >= 3 and max(s.gain for s in seal.signs.values()) < 0.5


def _vibration_change(fault: FaultClass) -> list[float]:
    kind = "gearbox" if fault is FaultClass.GEAR_TOOTH else "motor-pump"
    asset = plant([("A", kind, 1)]).resolved_assets[0]
    model = VibrationModel(asset, asset.sensors[0])
    out = []
    for s in SEVERITIES:
        f, ts = at_severity(fault, s)
        x0 = model.snapshot(24.5, 0.7, {}, np.random.default_rng(1))
        x = model.snapshot(24.5, 0.7, vibration_severities([f], ts), np.random.default_rng(1))
        out.append(float(np.linalg.norm(x - x0) / np.linalg.norm(x0)))
    return out


def _camera_change(fault: FaultClass) -> list[float]:
    scene = CameraScene(64, 0, 0)
    out = []
    for s in SEVERITIES:
        f, ts = at_severity(fault, s)
        healthy = scene.render([], np.random.default_rng(2)).astype(float)
        img = scene.render(camera_defects([f], ts), np.random.default_rng(2)).astype(float)
        out.append(float(np.abs(img - healthy).mean()))
    return out


def _thermal_change(fault: FaultClass) -> list[float]:
    out = []
    for s in SEVERITIES:
        f, ts = at_severity(fault, s)
        heat = fault_heat_c(CHANNELS, [f], np.array([ts]), np.array([True]))
        out.append(float(heat.max()))
    return out


MEASURES = {
    Modality.VIBRATION: _vibration_change,
    Modality.CAMERA: _camera_change,
    Modality.THERMAL: _thermal_change,
}
FLOOR = {Modality.VIBRATION: 0.05, Modality.CAMERA: 0.3, Modality.THERMAL: 1.0}


@pytest.mark.parametrize("fault", FAULTS, ids=str)
def test_signature_appears_in_declared_modalities_and_grows(fault: FaultClass) -> None:
    spec = FAULT_TABLE[fault]
    for modality, measure in MEASURES.items():
        change = measure(fault)
        assert change[0] == 0.0, f"{fault} shows in {modality} at severity 0: {change}"
        if modality in spec.visible_in:
            assert all(b >= a for a, b in itertools.pairwise(change)), (
                f"{fault} in {modality} does not grow with severity: {change}"
            )
            assert change[-1] > FLOOR[modality], f"{fault} too faint in {modality}: {change}"
        else:
            assert max(change) == 0.0, f"{fault} leaks into {modality}: {change}"


def test_primary_modality_carries_the_strongest_signature_for_single_modality_faults() -> None:
    crack = _camera_change(FaultClass.CASING_CRACK)[-1]
    leak = _camera_change(FaultClass.OIL_LEAK)[-1]
    bearing = _camera_change(FaultClass.BEARING_OUTER)[-1]
    assert crack > 0 and leak > 0 and bearing == 0
    cooling = _thermal_change(FaultClass.COOLING_FAILURE)[-1]
    seal = _thermal_change(FaultClass.SEAL_WEAR)[-1]
    assert cooling > 5 * seal > 0


@pytest.mark.parametrize("fault", FAULTS, ids=str)
def test_operator_notices_only_past_the_noticeability_threshold(fault: FaultClass) -> None:
    spec = FAULT_TABLE[fault]
    for s in (0.05, 0.25, 0.42, 0.52, 0.62, 0.75, 0.9, 1.0):  # none on a threshold
        f, ts = at_severity(fault, s)
        expected = spec.notice_severity is not None and s >= spec.notice_severity
        assert noticeable(f, ts) == expected, (fault, s)
        unnoted, _ = at_severity(fault, s, noted=False)
        assert not noticeable(unnoted, ts)
