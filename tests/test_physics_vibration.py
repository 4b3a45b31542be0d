"""The vibration model (plant.sim.vibration): defect peaks, fault signatures, units, determinism."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plant.config import AssetConfig, SensorConfig
from plant.config.plant import Asset
from plant.labels import FaultClass as F
from plant.physics.bearing import defect_frequencies, gear_frequencies
from plant.physics.envelope import (
    IsoZone,
    dominant_peak,
    envelope_spectrum,
    iso_velocity_rms_mm_s,
    iso_zone,
    kurtosis,
    rms,
)
from plant.sim.vibration import VibrationModel

BEARING = {"n_elements": 9, "ball_diameter_mm": 7.94, "pitch_diameter_mm": 39.04}


def make_model(
    asset_id: str = "P-1",
    rpm: tuple[float, float] = (1450.0, 1490.0),
    fs_hz: float = 12_800.0,
    bearing: dict | None = None,
    gear: dict | None = None,
) -> VibrationModel:
    sensor = SensorConfig(
        id="vib-de",
        modality="vibration",
        channels=("x", "y", "z"),
        sample_rate_hz=fs_hz,
        snapshot_s=1.0,
        period_s=600,
    )
    cfg = AssetConfig(
        id=asset_id,
        area="a",
        type="gearbox" if gear else "motor-pump",
        speed_rpm=rpm,
        bearing=bearing or BEARING,
        gear=gear,
        sensors=(sensor,),
    )
    return VibrationModel(Asset(asset_id, "s", cfg, (sensor,), 0), sensor)


def amplitude_at(x: np.ndarray, fs_hz: float, freq_hz: float) -> float:
    """Amplitude of the tone nearest ``freq_hz`` (Hann window, peak-corrected)."""
    w = np.hanning(x.size)
    spec = np.abs(np.fft.rfft(x * w)) * 2 / w.sum()
    k = round(freq_hz * x.size / fs_hz)
    return float(spec[k - 2 : k + 3].max())


@settings(max_examples=20, deadline=None)
@given(
    fault=st.sampled_from([F.BEARING_OUTER, F.BEARING_INNER]),
    z=st.integers(7, 16),
    ratio=st.floats(0.15, 0.3),
    pitch_mm=st.floats(30, 150),
    angle=st.floats(0, 25),
    shaft_hz=st.floats(10, 50),
    severity=st.floats(0.5, 1.0),
    asset_no=st.integers(0, 10_000),
)
def test_bearing_fault_puts_envelope_peak_at_computed_defect_frequency(
    fault, z, ratio, pitch_mm, angle, shaft_hz, severity, asset_no
):
    """Issue acceptance: within the larger of 1 % and 1.5 frequency bins."""
    bearing = {
        "n_elements": z,
        "ball_diameter_mm": ratio * pitch_mm,
        "pitch_diameter_mm": pitch_mm,
        "contact_angle_deg": angle,
    }
    model = make_model(f"A-{asset_no}", rpm=(shaft_hz * 60, shaft_hz * 60), bearing=bearing)
    x = model.snapshot(shaft_hz, 0.8, {fault: severity}, np.random.default_rng(asset_no))
    target_hz = defect_frequencies(model.asset.config.bearing, shaft_hz).for_fault(fault)
    spec = envelope_spectrum(x[0], model.fs_hz)
    peak = dominant_peak(spec, 1.5 * shaft_hz, 1.3 * target_hz)
    assert abs(peak.freq_hz - target_hz) <= max(0.01 * target_hz, 1.5 * spec.resolution_hz)


def test_ball_fault_peaks_at_twice_the_ball_spin_frequency():
    model = make_model("B-1", rpm=(1797, 1797))
    shaft_hz = 1797 / 60
    target_hz = defect_frequencies(model.asset.config.bearing, shaft_hz).ball_defect_hz
    hits = 0
    for seed in range(5):
        x = model.snapshot(shaft_hz, 0.5, {F.BEARING_BALL: 1.0}, np.random.default_rng(seed))
        spec = envelope_spectrum(x[0], model.fs_hz)
        hits += abs(dominant_peak(spec, 40, 400).freq_hz - target_hz) <= 0.01 * target_hz
    assert hits >= 4


def test_snapshot_shape_dtype_and_determinism_by_seed():
    model = make_model()
    a = model.snapshot(24.5, 0.7, {F.BEARING_INNER: 0.4}, np.random.default_rng(7))
    b = model.snapshot(24.5, 0.7, {F.BEARING_INNER: 0.4}, np.random.default_rng(7))
    c = model.snapshot(24.5, 0.7, {F.BEARING_INNER: 0.4}, np.random.default_rng(8))
    again = make_model().snapshot(24.5, 0.7, {F.BEARING_INNER: 0.4}, np.random.default_rng(7))
    assert a.shape == (3, 12_800) and a.dtype == np.float32
    assert np.array_equal(a, b) and np.array_equal(a, again)
    assert not np.array_equal(a, c)
    other = make_model("P-2").snapshot(24.5, 0.7, {F.BEARING_INNER: 0.4}, np.random.default_rng(7))
    assert not np.allclose(a, other)  # another asset has its own signature


def test_healthy_machine_is_in_iso_zone_a_or_b_in_m_s2():
    for i in range(4):
        model = make_model(f"H-{i}")
        x = model.snapshot(24.8, 0.8, {}, np.random.default_rng(i))
        v = iso_velocity_rms_mm_s(x, model.fs_hz)
        assert float(v.max()) > 0.05
        assert iso_zone(float(v.max()), 2, "rigid") in (IsoZone.A, IsoZone.B)
        assert 0.1 < float(rms(x[0])) < 3.0  # m/s2, a few tenths of g at most
        assert 2.5 < float(kurtosis(x[0])) < 3.6  # healthy: near Gaussian


def test_imbalance_grows_radial_1x_with_severity_and_speed_squared():
    model = make_model()
    rng = np.random.default_rng
    healthy = model.snapshot(24.0, 0.8, {}, rng(1))
    unbalanced = model.snapshot(24.0, 0.8, {F.IMBALANCE: 1.0}, rng(1))
    slow = model.snapshot(12.0, 0.8, {F.IMBALANCE: 1.0}, rng(1))
    a_fast, a_slow = amplitude_at(unbalanced[0], 12_800, 24.0), amplitude_at(slow[0], 12_800, 12.0)
    assert a_fast > 5 * amplitude_at(healthy[0], 12_800, 24.0)
    assert a_fast / a_slow == pytest.approx(4.0, rel=0.15)
    assert a_fast > 3 * amplitude_at(unbalanced[2], 12_800, 24.0)  # radial, not axial
    v = float(iso_velocity_rms_mm_s(unbalanced[0], 12_800))
    assert iso_zone(v, 2, "rigid") in (IsoZone.C, IsoZone.D)


def test_misalignment_shows_as_strong_axial_2x():
    model = make_model()
    x = model.snapshot(24.0, 0.8, {F.MISALIGNMENT: 1.0}, np.random.default_rng(2))
    h = model.snapshot(24.0, 0.8, {}, np.random.default_rng(2))
    assert amplitude_at(x[2], 12_800, 48.0) > 5 * amplitude_at(h[2], 12_800, 48.0)
    assert amplitude_at(x[2], 12_800, 48.0) > 2 * amplitude_at(x[0], 12_800, 48.0)


def test_looseness_brings_sub_harmonics_and_a_raised_floor():
    model = make_model()
    x = model.snapshot(24.0, 0.8, {F.LOOSENESS: 1.0}, np.random.default_rng(3))
    h = model.snapshot(24.0, 0.8, {}, np.random.default_rng(3))
    assert amplitude_at(x[0], 12_800, 12.0) > 10 * amplitude_at(h[0], 12_800, 12.0)
    assert amplitude_at(x[0], 12_800, 36.0) > 5 * amplitude_at(h[0], 12_800, 36.0)
    assert float(rms(x[0])) > float(rms(h[0]))


def test_lubrication_starvation_raises_high_frequency_noise_not_impacts():
    model = make_model()
    x = model.snapshot(24.0, 0.8, {F.LUBRICATION_STARVATION: 1.0}, np.random.default_rng(4))
    h = model.snapshot(24.0, 0.8, {}, np.random.default_rng(4))
    spec_x, spec_h = (np.abs(np.fft.rfft(s[0])) for s in (x, h))
    hf = slice(2000, 6400)  # 2-6.4 kHz at 1 Hz bins
    assert np.sqrt((spec_x[hf] ** 2).sum()) > 2 * np.sqrt((spec_h[hf] ** 2).sum())
    assert float(kurtosis(x[0])) < 3.5


def test_gear_tooth_fault_raises_sidebands_at_the_faulty_gears_rate():
    gear = {"input_teeth": 23, "output_teeth": 67}
    model = make_model("G-1", rpm=(980, 1000), gear=gear)
    shaft_hz = 16.5
    g = gear_frequencies(model.gear, shaft_hz)
    rate = g.output_shaft_hz if model.base.gear_fault_on_output else g.input_shaft_hz
    rng = np.random.default_rng
    h = model.snapshot(shaft_hz, 0.9, {}, rng(5))[0]
    x = model.snapshot(shaft_hz, 0.9, {F.GEAR_TOOTH: 1.0}, rng(5))[0]
    assert amplitude_at(h, 12_800, g.mesh_hz) > 0.02  # the mesh is there when healthy
    side = amplitude_at(x, 12_800, g.mesh_hz + rate) + amplitude_at(x, 12_800, g.mesh_hz - rate)
    side_h = amplitude_at(h, 12_800, g.mesh_hz + rate) + amplitude_at(h, 12_800, g.mesh_hz - rate)
    assert side > 4 * side_h
    assert float(kurtosis(x)) > float(kurtosis(h)) + 1  # tooth impacts


def test_onset_is_faint_and_failure_is_loud():
    model = make_model("O-1")
    kurt = {}
    for s in (0.0, 0.1, 1.0):
        faults = {F.BEARING_OUTER: s} if s else {}
        kurt[s] = np.median(
            [
                kurtosis(model.snapshot(24.0, 0.8, faults, np.random.default_rng(k))[0])
                for k in range(4)
            ]
        )
    assert kurt[0.1] < kurt[0.0] + 0.5 < kurt[1.0] - 3


def test_stopped_machine_gives_sensor_noise_only():
    model = make_model()
    x = model.snapshot(0.0, 0.0, {F.BEARING_OUTER: 1.0}, np.random.default_rng(0))
    assert x.shape == (3, 12_800) and float(rms(x).max()) < 0.05


def test_faults_without_a_vibration_signature_change_nothing():
    model = make_model()
    a = model.snapshot(24.0, 0.8, {F.COOLING_FAILURE: 1.0}, np.random.default_rng(9))
    b = model.snapshot(24.0, 0.8, {}, np.random.default_rng(9))
    assert np.array_equal(a, b)


def test_invalid_inputs_are_refused_with_the_value():
    model = make_model()
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"1\.5"):
        model.snapshot(24.0, 0.8, {F.IMBALANCE: 1.5}, rng)
    with pytest.raises(ValueError, match="gear"):
        model.snapshot(24.0, 0.8, {F.GEAR_TOOTH: 0.5}, rng)
    with pytest.raises(ValueError, match="load_fraction"):
        model.snapshot(24.0, 2.0, {}, rng)
    bad = SensorConfig(id="t", modality="thermal", channels=("c",), period_s=10)
    with pytest.raises(ValueError, match="not vibration"):
        VibrationModel(model.asset, bad)
