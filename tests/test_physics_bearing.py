"""Bearing defect and gear mesh frequencies (plant.physics.bearing)."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plant.config import BearingGeometry, GearStage
from plant.labels import FaultClass
from plant.physics.bearing import defect_frequencies, gear_frequencies

# CWRU drive-end bearing, SKF 6205-2RS: d = 0.3126 in, D = 1.537 in, 9 balls, 0 deg.
CWRU_6205 = BearingGeometry(
    n_elements=9, ball_diameter_mm=0.3126 * 25.4, pitch_diameter_mm=1.537 * 25.4
)


def test_6205_orders_match_cwru_published_multiples():
    orders = defect_frequencies(CWRU_6205, 1.0)
    assert orders.bpfi_hz == pytest.approx(5.4152, rel=2e-4)
    assert orders.bpfo_hz == pytest.approx(3.5848, rel=2e-4)
    assert orders.ftf_hz == pytest.approx(0.39828, rel=2e-4)
    # CWRU's "rolling element" 4.7135 is the ball-defect impact rate, 2 x the 1x spin BSF.
    assert orders.ball_defect_hz == pytest.approx(4.7135, rel=2e-4)
    assert orders.bsf_hz == pytest.approx(4.7135 / 2, rel=2e-4)


def test_frequencies_at_cwru_speed_are_orders_times_shaft_rate():
    shaft_hz = 1797 / 60
    freqs = defect_frequencies(CWRU_6205, shaft_hz)
    assert freqs.bpfi_hz == pytest.approx(162.2, abs=0.1)
    assert freqs.bpfo_hz == pytest.approx(107.4, abs=0.1)
    assert freqs.orders.bpfi_hz == pytest.approx(5.4152, rel=2e-4)
    assert freqs.markers()["BPFO"] == freqs.bpfo_hz


@settings(max_examples=50, deadline=None)
@given(
    z=st.integers(6, 30),
    ratio=st.floats(0.1, 0.35),
    pitch_mm=st.floats(20, 400),
    angle=st.floats(0, 40),
    shaft_hz=st.floats(1, 500),
)
def test_kinematic_identities_hold_for_any_geometry(z, ratio, pitch_mm, angle, shaft_hz):
    g = BearingGeometry(
        n_elements=z,
        ball_diameter_mm=ratio * pitch_mm,
        pitch_diameter_mm=pitch_mm,
        contact_angle_deg=angle,
    )
    f = defect_frequencies(g, shaft_hz)
    assert f.bpfo_hz + f.bpfi_hz == pytest.approx(z * shaft_hz)
    assert f.ftf_hz * z == pytest.approx(f.bpfo_hz)
    assert f.bpfo_hz < z * shaft_hz / 2 < f.bpfi_hz
    assert 0 < f.ftf_hz < shaft_hz / 2
    # Inner race sees balls pass at shaft - cage rate: BPFI = Z (fr - FTF).
    assert f.bpfi_hz == pytest.approx(z * (shaft_hz - f.ftf_hz))


def test_contact_angle_moves_frequencies_towards_half_z():
    flat = defect_frequencies(CWRU_6205, 10.0)
    angled = defect_frequencies(CWRU_6205.model_copy(update={"contact_angle_deg": 40}), 10.0)
    rc = 0.3126 / 1.537 * math.cos(math.radians(40))
    assert angled.bpfo_hz == pytest.approx(10 * 9 / 2 * (1 - rc))
    assert flat.bpfo_hz < angled.bpfo_hz and angled.bpfi_hz < flat.bpfi_hz


def test_for_fault_maps_bearing_faults_to_their_impact_rate():
    f = defect_frequencies(CWRU_6205, 30.0)
    assert f.for_fault(FaultClass.BEARING_OUTER) == f.bpfo_hz
    assert f.for_fault(FaultClass.BEARING_INNER) == f.bpfi_hz
    assert f.for_fault(FaultClass.BEARING_BALL) == 2 * f.bsf_hz
    with pytest.raises(ValueError, match="not a bearing fault"):
        f.for_fault(FaultClass.IMBALANCE)


def test_zero_speed_is_refused():
    with pytest.raises(ValueError, match="shaft_hz"):
        defect_frequencies(CWRU_6205, 0.0)


def test_gear_mesh_is_teeth_times_shaft_rate():
    g = gear_frequencies(GearStage(input_teeth=23, output_teeth=67), 16.5)
    assert g.mesh_hz == pytest.approx(23 * 16.5)
    assert g.output_shaft_hz == pytest.approx(16.5 * 23 / 67)
    assert g.output_shaft_hz * 67 == pytest.approx(g.mesh_hz)
