"""The envelope routine on real CWRU bearing records, and the simulator's onset against them."""

from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.signal

from plant.config import AssetConfig, BearingGeometry, SensorConfig
from plant.config.plant import Asset
from plant.labels import FaultClass as F
from plant.physics.bearing import defect_frequencies
from plant.physics.envelope import dominant_peak, envelope_spectrum, kurtosis, peak_near
from plant.sim.vibration import VibrationModel

FS = 12_000.0
BEARING_6205 = BearingGeometry(n_elements=9, ball_diameter_mm=7.94, pitch_diameter_mm=39.04)


def load_de(shared_data: Path, stem: str) -> tuple[np.ndarray, float]:
    """(drive-end signal at 12 kHz, shaft Hz); the 48 kHz normal record is decimated by 4."""
    folder = "Normal" if stem.startswith("Normal") else "12k_DE"
    mat = scipy.io.loadmat(shared_data / "cwru-bearing" / "Data" / folder / f"{stem}.mat")
    x = next(v for k, v in mat.items() if k.endswith("_DE_time")).ravel().astype(np.float64)
    rpm = float(next(v for k, v in mat.items() if k.endswith("RPM")).ravel()[0])
    if folder == "Normal":
        x = scipy.signal.decimate(x, 4, ftype="fir")
    return x, rpm / 60.0


def seconds(x: np.ndarray) -> np.ndarray:
    n = int(FS)
    return x[: x.size // n * n].reshape(-1, n)


@pytest.mark.parametrize(
    ("stem", "fault"), [("IR007_0", F.BEARING_INNER), ("OR021@6_0", F.BEARING_OUTER)]
)
def test_envelope_routine_finds_the_defect_frequency_in_real_records(shared_data, stem, fault):
    x, shaft_hz = load_de(shared_data, stem)
    target_hz = defect_frequencies(BEARING_6205, shaft_hz).for_fault(fault)
    spec = envelope_spectrum(x, FS)  # kurtogram-lite picks the band
    peak = dominant_peak(spec, 40.0, 400.0)
    assert abs(peak.freq_hz - target_hz) <= max(0.01 * target_hz, 1.5 * spec.resolution_hz)
    assert peak.prominence > 20


def test_envelope_routine_finds_no_defect_peak_in_the_normal_record(shared_data):
    x, shaft_hz = load_de(shared_data, "Normal_0")
    freqs = defect_frequencies(BEARING_6205, shaft_hz)
    peak = dominant_peak(envelope_spectrum(x, FS), 40.0, 400.0)
    for target in (freqs.bpfo_hz, freqs.bpfi_hz, freqs.ball_defect_hz):
        assert abs(peak.freq_hz - target) > 0.02 * target


def test_simulated_onset_stands_out_less_than_cwrus_smallest_fault(shared_data):
    """Honest difficulty: severity 0.15 is subtler than IR007 against the normal record."""
    normal, shaft_hz = load_de(shared_data, "Normal_0")
    ir007, _ = load_de(shared_data, "IR007_0")
    bpfi = defect_frequencies(BEARING_6205, shaft_hz).bpfi_hz
    real_kurt_gain = np.median(kurtosis(seconds(ir007))) / np.median(kurtosis(seconds(normal)))
    real_prom = np.median(
        [peak_near(envelope_spectrum(s, FS), bpfi).prominence for s in seconds(ir007)]
    )

    sensor = SensorConfig(
        id="vib-de",
        modality="vibration",
        channels=("x",),
        sample_rate_hz=FS,
        snapshot_s=1.0,
        period_s=600,
    )
    kurt_gains, proms, healthy_proms = [], [], []
    for i in range(4):
        cfg = AssetConfig(
            id=f"cwru-like-{i}",
            area="a",
            type="motor-pump",
            speed_rpm=(1797, 1797),
            bearing=BEARING_6205,
            sensors=(sensor,),
        )
        model = VibrationModel(Asset(cfg.id, "s", cfg, (sensor,), i), sensor)
        rng = np.random.default_rng(i)
        healthy = [model.snapshot(shaft_hz, 0.0, {}, rng)[0] for _ in range(3)]
        onset = [model.snapshot(shaft_hz, 0.0, {F.BEARING_INNER: 0.15}, rng)[0] for _ in range(3)]
        kurt_gains.append(
            np.median(kurtosis(np.stack(onset))) / np.median(kurtosis(np.stack(healthy)))
        )
        healthy_proms += [
            peak_near(envelope_spectrum(s.astype(np.float64), FS), bpfi).prominence for s in healthy
        ]
        proms += [
            peak_near(envelope_spectrum(s.astype(np.float64), FS), bpfi).prominence for s in onset
        ]
    assert real_kurt_gain > 1.5 and real_prom > 20  # CWRU's 0.007 in fault stands out clearly
    assert max(kurt_gains) < real_kurt_gain
    assert np.median(proms) < real_prom
    assert np.median(proms) > np.median(healthy_proms)  # but the onset is there to be found
