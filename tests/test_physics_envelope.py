"""Envelope analysis, ISO 20816-3 velocity severity and time statistics (plant.physics.envelope).

The test signals are built here from first principles, independently of the simulator.
"""

import numpy as np
import pytest

from plant.config import Foundation
from plant.physics.envelope import (
    IsoZone,
    crest_factor,
    dominant_peak,
    envelope_spectrum,
    iso_velocity_rms_mm_s,
    iso_zone,
    kurtosis,
    peak_near,
    peak_order,
    rms,
    zone_boundaries_mm_s,
)

FS = 12_800.0


def ringing_impacts(rate_hz: float, resonance_hz: float, seed: int = 0) -> np.ndarray:
    """1 s of impacts at ``rate_hz`` ringing a 2%-damped mode, plus shaft tones and noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(FS)) / FS
    kernel_t = t[:400]
    kernel = np.exp(-0.02 * 2 * np.pi * resonance_hz * kernel_t) * np.sin(
        2 * np.pi * resonance_hz * kernel_t
    )
    train = np.zeros(t.size)
    train[(np.arange(0, 1, 1 / rate_hz) * FS).astype(int)] = 1.0
    x = np.convolve(train, kernel)[: t.size]
    x += 3.0 * np.sin(2 * np.pi * 25 * t) + 1.0 * np.sin(2 * np.pi * 50 * t)  # shaft tones
    return x + 0.3 * rng.standard_normal(t.size)


def test_envelope_finds_the_impact_rate_under_louder_shaft_tones():
    x = ringing_impacts(97.0, 3500.0)
    spec = envelope_spectrum(x, FS)
    assert spec.band_hz[0] <= 3500 <= spec.band_hz[1]  # the kurtogram-lite found the resonance
    peak = dominant_peak(spec, 30, 400)
    assert abs(peak.freq_hz - 97.0) <= max(0.01 * 97, 1.5 * spec.resolution_hz)
    assert peak.prominence > 10


def test_fixed_band_away_from_the_resonance_finds_nothing():
    x = ringing_impacts(97.0, 3500.0)
    near = envelope_spectrum(x, FS, band_hz=(3000, 4000))
    away = envelope_spectrum(x, FS, band_hz=(5500, 6300))
    assert peak_near(near, 97.0).prominence > 5 * peak_near(away, 97.0).prominence
    assert near.band_kurtosis > away.band_kurtosis


def test_peak_order_reads_the_peak_per_shaft_revolution():
    spec = envelope_spectrum(ringing_impacts(5.4152 * 25.0, 3000.0), FS)
    peak = peak_order(spec, 25.0, 5.4152)
    assert peak.freq_hz / 25.0 == pytest.approx(5.4152, rel=0.01)


def test_envelope_refuses_bad_input():
    with pytest.raises(ValueError, match="1-D"):
        envelope_spectrum(np.zeros((3, 1000)), FS)
    with pytest.raises(ValueError, match="band_hz"):
        envelope_spectrum(np.zeros(1000), FS, band_hz=(100, 9000))


@pytest.mark.parametrize("freq_hz", [20.0, 49.5, 160.0, 800.0])
def test_velocity_rms_of_a_tone_is_its_velocity_amplitude_over_root_two(freq_hz):
    t = np.arange(int(FS)) / FS
    v_peak_mm_s = 4.5 * np.sqrt(2)
    accel = v_peak_mm_s * 1e-3 * 2 * np.pi * freq_hz * np.cos(2 * np.pi * freq_hz * t)
    assert float(iso_velocity_rms_mm_s(accel, FS)) == pytest.approx(4.5, rel=0.02)


def test_velocity_rms_ignores_what_lies_outside_10_to_1000_hz_and_works_per_channel():
    t = np.arange(int(FS)) / FS
    inside = 0.5 * np.sin(2 * np.pi * 100 * t)
    outside = 50.0 * np.sin(2 * np.pi * 3000 * t) + 0.05 * np.sin(2 * np.pi * 4 * t)
    both = np.stack([inside, inside + outside])
    v = iso_velocity_rms_mm_s(both, FS)
    assert v.shape == (2,)
    assert v[1] == pytest.approx(v[0], rel=0.01)


def test_iso_20816_3_zone_boundaries_are_the_standards_table_values():
    assert zone_boundaries_mm_s(1, Foundation.RIGID) == (2.3, 4.5, 7.1)
    assert zone_boundaries_mm_s(1, Foundation.FLEXIBLE) == (3.5, 7.1, 11.0)
    assert zone_boundaries_mm_s(2, Foundation.RIGID) == (1.4, 2.8, 4.5)
    assert zone_boundaries_mm_s(2, "flexible") == (2.3, 4.5, 7.1)


@pytest.mark.parametrize(
    ("v", "group", "foundation", "zone"),
    [
        (0.9, 2, "rigid", IsoZone.A),
        (1.4, 2, "rigid", IsoZone.A),  # a boundary value belongs to the lower zone
        (1.41, 2, "rigid", IsoZone.B),
        (3.0, 2, "rigid", IsoZone.C),
        (4.6, 2, "rigid", IsoZone.D),
        (3.0, 1, "rigid", IsoZone.B),
        (11.0, 1, "flexible", IsoZone.C),
        (11.1, 1, "flexible", IsoZone.D),
        (2.0, 2, "flexible", IsoZone.A),
    ],
)
def test_iso_zone(v, group, foundation, zone):
    assert iso_zone(v, group, foundation) is zone


def test_iso_zone_refuses_unknown_groups_and_foundations():
    with pytest.raises(ValueError, match="group"):
        iso_zone(1.0, 5, "rigid")
    with pytest.raises(ValueError):
        iso_zone(1.0, 2, "concrete")


def test_time_statistics_of_known_signals():
    rng = np.random.default_rng(1)
    t = np.arange(200_000) / FS
    tone = 2.0 * np.sin(2 * np.pi * 37 * t) + 5.0  # offset must not matter
    assert float(rms(tone)) == pytest.approx(np.sqrt(2), rel=1e-3)
    assert float(kurtosis(tone)) == pytest.approx(1.5, rel=1e-2)
    assert float(crest_factor(tone)) == pytest.approx(np.sqrt(2), rel=1e-3)
    assert float(kurtosis(rng.standard_normal(200_000))) == pytest.approx(3.0, abs=0.1)
    spiky = np.zeros(1000)
    spiky[::100] = 1.0
    assert float(kurtosis(spiky)) > 8 and float(crest_factor(spiky)) > 3
    assert kurtosis(np.ones((2, 10))).tolist() == [0.0, 0.0]
