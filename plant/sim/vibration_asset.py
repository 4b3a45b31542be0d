"""What makes one asset's vibration its own: amplitudes, phases, resonances, drawn once.

Drawn from a generator seeded by the asset's and sensor's ids (crc32, stable across processes
and across plants), so an asset's healthy signature, its housing resonances and how each fault
shows on it are the same in every run. The ranges are documented in docs/SIMULATOR.md.
"""

from __future__ import annotations

import dataclasses
import math
import zlib

import numpy as np
import scipy.fft as sfft

from plant.config import Asset, SensorConfig
from plant.physics.envelope import zone_boundaries_mm_s
from plant.physics.impacts import resonance_kernel

N_HALF_ORDERS = 20  # shaft orders 0.5x, 1x, ..., 10x; index k holds order (k + 1) / 2
AXIAL_CHANNELS = frozenset({"z", "axial", "a", "ax"})
SEED_SALT = 0x7E51B


def _unit(rng: np.random.Generator, shape: tuple[int, ...] | int = ()) -> np.ndarray:
    return np.exp(2j * np.pi * rng.random(shape))


@dataclasses.dataclass(frozen=True, slots=True)
class AssetVibration:
    """Per-asset constants of the vibration model. C channels, K half orders, F rfft bins."""

    ref_shaft_hz: float  # amplitudes below hold at this speed (the asset's top speed)
    axial: np.ndarray  # (C,) bool
    one_x_m_s2: float  # healthy 1x acceleration amplitude (peak) at the reference speed
    healthy_orders: np.ndarray  # (C, K) complex, m/s2 peak
    imbalance_dir: np.ndarray  # (C,) complex: radial in quadrature, little axial
    misalignment_1x: np.ndarray  # (C,) complex
    misalignment_2x: np.ndarray  # (C,) complex: strong axial
    looseness_comb: np.ndarray  # (C, K) complex: harmonics and sub-harmonics
    kernel_f: np.ndarray  # (C, F) complex: rfft of the housing's resonance response
    resonance_power: np.ndarray  # (C, F): |kernel_f|^2 scaled to mean 1
    friction_power: np.ndarray  # (C, F): lubrication friction noise shape, mean 1
    impact_gain: np.ndarray  # (C,): how strongly each axis sees bearing strikes
    rolling_noise_m_s2: float  # healthy resonance-band noise RMS at the reference speed
    sensor_noise_m_s2: float
    impact_m_s2: float  # peak ring of one bearing strike at severity 1, reference speed
    gear_impact_m_s2: float
    slip_jitter: float  # relative std of the interval between strikes
    inner_modulation: float  # depth of the shaft-rate modulation of inner-race strikes
    cage_modulation: float  # depth of the cage-rate modulation of ball strikes
    load_zone_phase: float
    gear_fault_on_output: bool  # which gear a gear_tooth fault sits on
    mesh_m_s2: float  # gear mesh amplitude (peak) at the reference speed and full load
    mesh_gain: np.ndarray  # (C,)
    gear_phases: np.ndarray  # (3, 3) complex


def asset_rng(asset: Asset, sensor: SensorConfig) -> np.random.Generator:
    """The generator for an asset's constants: depends on the ids only."""
    ids = (zlib.crc32(asset.id.encode()), zlib.crc32(sensor.id.encode()))
    return np.random.default_rng([SEED_SALT, *ids])


def _axis_gains(
    rng: np.random.Generator, axial: np.ndarray, radial2: tuple, ax: tuple
) -> np.ndarray:
    gains = np.where(axial, rng.uniform(*ax, axial.size), rng.uniform(*radial2, axial.size))
    first_radial = np.flatnonzero(~axial)
    if first_radial.size:
        gains[first_radial[0]] = 1.0
    return gains


def _healthy_orders(rng: np.random.Generator, one_x: float, axial: np.ndarray) -> np.ndarray:
    c = axial.size
    rel = np.zeros(N_HALF_ORDERS)
    rel[1::2] = np.concatenate(
        ([1.0], rng.uniform(0.2, 0.5, 1), rng.uniform(0.1, 0.3, 1), rng.uniform(0.02, 0.1, 7))
    )
    axis = np.where(axial, rng.uniform(0.2, 0.4, c), rng.uniform(0.7, 1.0, c))
    return one_x * axis[:, None] * rel[None, :] * _unit(rng, (c, N_HALF_ORDERS))


PASS_COUNTS = {  # vanes / blades / lobes per asset type: the pass tone's shaft order
    "motor-pump": (5, 7),
    "fan": (6, 10),
    "compressor": (4, 6),
}


def _pass_tones(
    rng: np.random.Generator, asset_type: str, rolling: float, axial: np.ndarray
) -> np.ndarray:
    """Vane/blade/lobe pass tone and its 2x: a healthy machine's loudest lines (C, K).

    Peak amplitude sqrt(2 f) x the rolling noise RMS with f in [0.15, 0.5]: the tone carries
    13-33 % of the healthy variance, which brings healthy kurtosis to ~2.8 and crest to ~3.7
    as in CWRU's normal record (pure Gaussian noise would give 3.0 and ~4).
    """
    tones = np.zeros((axial.size, N_HALF_ORDERS), dtype=np.complex128)
    if asset_type not in PASS_COUNTS:
        return tones
    order = int(rng.integers(PASS_COUNTS[asset_type][0], PASS_COUNTS[asset_type][1] + 1))
    amplitude = rolling * math.sqrt(2 * rng.uniform(0.15, 0.5))
    axis = np.where(axial, rng.uniform(0.3, 0.6, axial.size), rng.uniform(0.7, 1.0, axial.size))
    for harmonic, rel in ((1, 1.0), (2, 0.3)):
        if harmonic * order <= N_HALF_ORDERS // 2:
            k = 2 * harmonic * order - 1
            tones[:, k] = amplitude * rel * axis * _unit(rng, axial.size)
    return tones


def _looseness_comb(rng: np.random.Generator, axial: np.ndarray) -> np.ndarray:
    orders = 0.5 * np.arange(1, N_HALF_ORDERS + 1)
    rel = 0.8 / np.sqrt(orders)
    rel[0::2] *= 0.5  # sub-harmonics 0.5x, 1.5x, ... weaker than harmonics
    axis = np.where(axial, 0.3, 1.0)
    return (
        axis[:, None]
        * rel[None, :]
        * rng.uniform(0.5, 1.0, (axial.size, N_HALF_ORDERS))
        * _unit(rng, (axial.size, N_HALF_ORDERS))
    )


def _structure(rng: np.random.Generator, fs_hz: float, n: int, c: int) -> tuple:
    """Resonance responses per channel (two modes each) and the noise shapes they give."""
    main_hz = min(rng.uniform(2000.0, 4500.0), 0.38 * fs_hz)
    low_hz = main_hz * rng.uniform(0.3, 0.5)
    zeta = rng.uniform(0.01, 0.03)
    kernels = np.stack(
        [
            resonance_kernel(
                fs_hz,
                n,
                [
                    (main_hz * rng.uniform(0.92, 1.08), zeta, 1.0),
                    (low_hz * rng.uniform(0.9, 1.1), zeta, 0.3),
                ],
            )
            for _ in range(c)
        ]
    )
    kernel_f = sfft.rfft(kernels, axis=-1)
    power = np.abs(kernel_f) ** 2
    power /= power.mean(axis=-1, keepdims=True)
    freqs = sfft.rfftfreq(n, 1.0 / fs_hz)
    high = (freqs > 1000.0).astype(np.float64)
    friction = 0.5 * power + 0.5 * high / high.mean()
    return kernel_f, power, friction


def draw_asset_vibration(asset: Asset, sensor: SensorConfig) -> AssetVibration:
    """Draws the asset's constants (deterministic in its ids)."""
    rng = asset_rng(asset, sensor)
    cfg = asset.config
    fs_hz = float(sensor.sample_rate_hz or 0.0)
    axial = np.array([ch.lower() in AXIAL_CHANNELS for ch in sensor.channels])
    c = axial.size
    ref_hz = cfg.speed_rpm[1] / 60.0
    # Healthy 1x: a quarter to a half of the zone A/B boundary of the asset's ISO class.
    v_1x_mm_s = zone_boundaries_mm_s(cfg.iso_group, cfg.foundation)[0] * rng.uniform(0.25, 0.5)
    one_x = v_1x_mm_s * 1e-3 * math.sqrt(2) * 2 * math.pi * ref_hz
    kernel_f, power, friction = _structure(rng, fs_hz, sensor.samples_per_snapshot, c)
    rolling = rng.uniform(0.5, 1.1)
    healthy = _healthy_orders(rng, one_x, axial)
    healthy += _pass_tones(rng, cfg.type.value, rolling, axial)
    radial_phase = _unit(rng)
    quadrature = np.where(np.cumsum(~axial) == 2, -1j, 1.0)  # second radial axis lags 90 deg
    return AssetVibration(
        ref_shaft_hz=ref_hz,
        axial=axial,
        one_x_m_s2=one_x,
        healthy_orders=healthy,
        imbalance_dir=np.where(axial, 0.1 * _unit(rng, c), radial_phase * quadrature),
        misalignment_1x=np.where(axial, 1.0, 0.2) * _unit(rng, c),
        misalignment_2x=np.where(axial, 1.0, 0.3) * _unit(rng, c),
        looseness_comb=_looseness_comb(rng, axial),
        kernel_f=kernel_f,
        resonance_power=power,
        friction_power=friction,
        impact_gain=_axis_gains(rng, axial, (0.6, 1.0), (0.3, 0.5)),
        rolling_noise_m_s2=rolling,
        sensor_noise_m_s2=rng.uniform(0.01, 0.03),
        impact_m_s2=rng.uniform(25.0, 50.0),
        gear_impact_m_s2=rng.uniform(10.0, 25.0),
        slip_jitter=rng.uniform(0.01, 0.02),
        inner_modulation=rng.uniform(0.4, 0.8),
        cage_modulation=rng.uniform(0.5, 0.9),
        load_zone_phase=rng.uniform(0.0, 2 * math.pi),
        gear_fault_on_output=bool(rng.random() < 0.5),
        mesh_m_s2=rolling * rng.uniform(0.5, 1.0),  # gear mesh: a gearbox's loudest line
        mesh_gain=_axis_gains(rng, axial, (0.7, 1.0), (0.4, 0.8)),
        gear_phases=_unit(rng, (3, 3)),
    )
