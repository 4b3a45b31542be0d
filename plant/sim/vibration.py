"""Vibration snapshots of one accelerometer: shaft orders, faults, structure and noise.

A snapshot is the sum of three parts (docs/SIMULATOR.md, "Vibration physics"):

1. periodic: shaft orders 0.5x..10x (healthy residual plus imbalance, misalignment, looseness)
   and, on a gearbox, the gear mesh modulated by both shafts; built in the time domain from
   powers of one complex phasor, so any speed is exact;
2. impacts: bearing and gear-tooth defects strike at their kinematic rates (with slip jitter)
   and ring the housing's resonances; the strike train is convolved with a precomputed
   resonance response by FFT;
3. noise: healthy rolling noise and lubrication friction (through the resonances), looseness
   floor and sensor noise (white), all Gaussian, drawn directly as one shaped spectrum.

Everything that makes an asset itself (amplitudes, phases, resonances, gains) is drawn once
from the asset's and sensor's ids, so an asset looks the same in every run and process.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import scipy.fft as sfft

from plant.config import Asset, SensorConfig
from plant.labels import FaultClass
from plant.physics.bearing import defect_frequencies
from plant.physics.impacts import impact_times_s
from plant.readings import Modality
from plant.sim.vibration_asset import N_HALF_ORDERS, AssetVibration, draw_asset_vibration

log = logging.getLogger(__name__)

BEARING_FAULTS = (FaultClass.BEARING_OUTER, FaultClass.BEARING_INNER, FaultClass.BEARING_BALL)
VIBRATION_FAULTS = frozenset(
    {
        *BEARING_FAULTS,
        FaultClass.IMBALANCE,
        FaultClass.MISALIGNMENT,
        FaultClass.LOOSENESS,
        FaultClass.GEAR_TOOTH,
        FaultClass.LUBRICATION_STARVATION,
    }
)
# Calibration (docs/SIMULATOR.md): severity 1 is functional failure.
IMBALANCE_GAIN = 8.0  # 1x grows to 1 + 8 s times its healthy value
MISALIGNMENT_GAIN = 5.0  # axial 2x at s = 1, in units of the healthy 1x
LOOSENESS_GAIN = 3.0  # harmonic/sub-harmonic comb at s = 1, in units of the healthy 1x
LOOSENESS_FLOOR = 0.6  # white floor RMS at s = 1, in units of the rolling noise
LUBRICATION_GAIN = 3.0  # friction noise RMS at s = 1, in units of the rolling noise
IMPACT_EXPONENT = 1.5  # strike amplitude ~ s ** 1.5: onset is faint (docs: "Honest difficulty")
BALL_STRIKE = 0.5  # a ball spall strikes softer than a race spall (CWRU ball records are quiet)
BALL_SKIP = 0.3  # a ball spall misses the race on this fraction of its spins
NYQUIST_USE = 0.45  # components above this fraction of fs are left out (no aliasing)


class VibrationModel:
    """Simulates ``sensor`` (a vibration sensor) on ``asset``: ``snapshot`` -> (C, N) m/s2."""

    def __init__(self, asset: Asset, sensor: SensorConfig) -> None:
        if sensor.modality is not Modality.VIBRATION:
            raise ValueError(f"sensor {asset.id}/{sensor.id} is {sensor.modality}, not vibration")
        self.asset = asset
        self.sensor = sensor
        self.fs_hz = float(sensor.sample_rate_hz or 0.0)
        self.n = sensor.samples_per_snapshot
        self.duration_s = self.n / self.fs_hz
        self.t_s = np.arange(self.n) / self.fs_hz
        self.orders = defect_frequencies(asset.config.bearing, 1.0)
        self.gear = asset.config.gear
        self.base: AssetVibration = draw_asset_vibration(asset, sensor)

    @property
    def channels(self) -> tuple[str, ...]:
        return self.sensor.channels

    def snapshot(
        self,
        shaft_hz: float,
        load_fraction: float,
        faults: Mapping[FaultClass, float],
        rng: np.random.Generator,
    ) -> np.ndarray:
        """One snapshot (C, N) float32 in m/s2; ``faults`` maps fault class to severity in [0, 1].

        Fault classes without a vibration signature (thermal, visual) are ignored. A stopped
        machine (``shaft_hz`` 0) gives sensor noise only.
        """
        sev = self._severities(faults)
        if not 0.0 <= load_fraction <= 1.5:
            raise ValueError(f"load_fraction must be in [0, 1.5], got {load_fraction}")
        if not shaft_hz >= 0:
            raise ValueError(f"shaft_hz must be >= 0, got {shaft_hz}")
        if shaft_hz == 0:
            noise = rng.standard_normal((len(self.channels), self.n)) * self.base.sensor_noise_m_s2
            return noise.astype(np.float32)
        speed = shaft_hz / self.base.ref_shaft_hz
        theta = rng.uniform(0.0, 2 * np.pi) + 2 * np.pi * shaft_hz * self.t_s  # (N,) shaft phase
        spec = self._noise_spectrum(speed, load_fraction, sev, rng)  # (C, F)
        strikes = self._strikes(theta[0], shaft_hz, speed, load_fraction, sev, rng)
        if strikes is not None:
            spec += self.base.impact_gain[:, None] * sfft.rfft(strikes)[None] * self.base.kernel_f
        out = sfft.irfft(spec, self.n, axis=-1)
        out += self._periodic(theta, shaft_hz, speed, load_fraction, sev)
        return out.astype(np.float32)

    def _severities(self, faults: Mapping[FaultClass, float]) -> dict[FaultClass, float]:
        sev: dict[FaultClass, float] = {}
        for fault, s in faults.items():
            fault = FaultClass(fault)
            if not 0.0 <= s <= 1.0:
                raise ValueError(f"severity of {fault} must be in [0, 1], got {s}")
            if fault is FaultClass.GEAR_TOOTH and self.gear is None and s > 0:
                raise ValueError(f"{self.asset.id} has no gear stage for a gear_tooth fault")
            if s > 0 and fault in VIBRATION_FAULTS:
                sev[fault] = float(s)
        return sev

    def _periodic(
        self, theta: np.ndarray, shaft_hz: float, speed: float, load: float, sev: dict
    ) -> np.ndarray:
        coef = self._order_coefficients(speed, sev)  # (C, K) complex, order (k + 1) / 2
        orders_hz = shaft_hz * 0.5 * np.arange(1, N_HALF_ORDERS + 1)
        coef[:, orders_hz >= NYQUIST_USE * self.fs_hz] = 0.0
        step = 2 if not coef[:, 0::2].any() else 1  # no sub-harmonics: powers of 1x suffice
        coef = coef[:, step - 1 :: step]
        powers = _phasor_powers(0.5 * step * theta, coef.shape[1])  # (K', N)
        out = _real_part_of_product(coef, powers)
        if self.gear is not None:
            shaft_powers = powers[[step - 1, 2 * step - 1, 3 * step - 1]]  # 1x, 2x, 3x
            out += self._gear_mesh(theta, shaft_powers, shaft_hz, speed, load, sev)
        return out

    def _order_coefficients(self, speed: float, sev: dict) -> np.ndarray:
        b = self.base
        scale = b.one_x_m_s2 * speed**2  # order forces grow with speed^2 (a = F / m)
        coef = b.healthy_orders * speed**2  # (C, K) complex
        coef[:, 1] += scale * IMBALANCE_GAIN * sev.get(FaultClass.IMBALANCE, 0.0) * b.imbalance_dir
        s_mis = sev.get(FaultClass.MISALIGNMENT, 0.0)
        coef[:, 3] += scale * MISALIGNMENT_GAIN * s_mis * b.misalignment_2x
        coef[:, 1] += scale * 0.5 * MISALIGNMENT_GAIN * s_mis * b.misalignment_1x
        coef += scale * LOOSENESS_GAIN * sev.get(FaultClass.LOOSENESS, 0.0) * b.looseness_comb
        return coef.astype(np.complex64)

    def _gear_mesh(
        self,
        theta: np.ndarray,
        shaft_powers: np.ndarray,
        shaft_hz: float,
        speed: float,
        load: float,
        sev: dict,
    ) -> np.ndarray:
        assert self.gear is not None
        b = self.base
        z_in, z_out = self.gear.input_teeth, self.gear.output_teeth
        s = sev.get(FaultClass.GEAR_TOOTH, 0.0)
        # Shaft modulation of the mesh: sidebands at both shaft rates; the faulty gear's grow.
        depth = 0.05 + np.array([0.5, 0.3, 0.2]) * s
        healthy = np.full(3, 0.05)
        d_in, d_out = (healthy, depth) if b.gear_fault_on_output else (depth, healthy)
        mod = 1.0 + _real_part_of_product((d_in * b.gear_phases[0])[None], shaft_powers)
        out_powers = _phasor_powers(theta * (z_in / z_out), 3)  # output shaft 1x..3x
        mod += _real_part_of_product((d_out * b.gear_phases[1])[None], out_powers)
        mesh = _phasor_powers(z_in * theta, 3)  # mesh 1x..3x
        rel = np.array([1.0, 0.4, 0.15]) * b.gear_phases[2]
        rel[z_in * shaft_hz * np.arange(1, 4) >= NYQUIST_USE * self.fs_hz] = 0.0
        amplitude = b.mesh_m_s2 * speed**2 * (0.3 + 0.7 * load)
        signal = amplitude * _real_part_of_product(rel[None], mesh)[0] * mod[0]  # (N,)
        return b.mesh_gain[:, None] * signal[None, :]

    def _noise_spectrum(
        self, speed: float, load: float, sev: dict, rng: np.random.Generator
    ) -> np.ndarray:
        b = self.base
        rough = b.rolling_noise_m_s2 * speed * (0.7 + 0.3 * load)
        lub = (
            b.rolling_noise_m_s2 * LUBRICATION_GAIN * sev.get(FaultClass.LUBRICATION_STARVATION, 0)
        )
        floor = b.rolling_noise_m_s2 * LOOSENESS_FLOOR * sev.get(FaultClass.LOOSENESS, 0.0)
        var = rough**2 * b.resonance_power + lub**2 * b.friction_power
        var += b.sensor_noise_m_s2**2 + floor**2
        shape = np.sqrt(self.n * var / 2.0)  # (C, F): E|X_k|^2 = n var for white noise
        draws = rng.standard_normal((2, *shape.shape), dtype=np.float32)
        spec = shape * (draws[0] + 1j * draws[1])
        spec[:, 0] = 0.0
        return spec

    def _strikes(
        self,
        theta0: float,
        shaft_hz: float,
        speed: float,
        load: float,
        sev: dict,
        rng: np.random.Generator,
    ) -> np.ndarray | None:
        """The strike train (N,): bearing and gear-tooth impacts as amplitude-weighted spikes."""
        active = [f for f in (*BEARING_FAULTS, FaultClass.GEAR_TOOTH) if f in sev]
        if not active:
            return None
        b = self.base
        strikes = np.zeros(self.n)
        for fault in active:
            s = sev[fault]
            rate_hz = self._strike_rate_hz(fault, shaft_hz)
            jitter = 0.0 if fault is FaultClass.GEAR_TOOTH else b.slip_jitter  # teeth: no slip
            times = impact_times_s(rate_hz, self.duration_s, jitter, rng)
            amp = self._strike_amplitudes(fault, s, times, theta0, shaft_hz, rng)
            peak = b.gear_impact_m_s2 if fault is FaultClass.GEAR_TOOTH else b.impact_m_s2
            amp *= peak * s**IMPACT_EXPONENT * speed**1.5 * (0.4 + 0.6 * load)
            np.add.at(strikes, (times * self.fs_hz).astype(np.int64), amp)
        return strikes

    def _strike_rate_hz(self, fault: FaultClass, shaft_hz: float) -> float:
        if fault is FaultClass.GEAR_TOOTH:
            assert self.gear is not None
            ratio = self.gear.input_teeth / self.gear.output_teeth
            return shaft_hz * (ratio if self.base.gear_fault_on_output else 1.0)
        return self.orders.for_fault(fault) * shaft_hz

    def _strike_amplitudes(
        self,
        fault: FaultClass,
        s: float,
        times: np.ndarray,
        theta0: float,
        shaft_hz: float,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Relative strike strengths: random scatter (growing with the spall) and modulation."""
        b = self.base
        amp = rng.lognormal(0.0, 0.1 + 0.3 * s, times.size)
        if fault is FaultClass.BEARING_INNER:  # the defect rotates through the load zone
            zone = 0.5 + 0.5 * np.cos(theta0 + 2 * np.pi * shaft_hz * times + b.load_zone_phase)
            amp *= 1.0 - b.inner_modulation + b.inner_modulation * zone
        elif fault is FaultClass.BEARING_BALL:  # the ball rides round with the cage
            cage = 2 * np.pi * self.orders.ftf_hz * shaft_hz * times + b.load_zone_phase
            amp *= 1.0 - b.cage_modulation + b.cage_modulation * (0.5 + 0.5 * np.cos(cage))
            amp[1::2] *= 0.6  # alternate strikes on the inner race, attenuated further
            amp *= BALL_STRIKE * (rng.random(times.size) >= BALL_SKIP)
        return amp


def _phasor_powers(phase: np.ndarray, count: int) -> np.ndarray:
    """(count, N) complex64: exp(i k phase) for k = 1..count, by repeated multiplication."""
    base = np.empty(phase.shape, dtype=np.complex64)
    phase32 = np.mod(phase, 2 * np.pi).astype(np.float32)  # wrapped first: < 1e-6 rad error
    base.real = np.cos(phase32)
    base.imag = np.sin(phase32)
    powers = np.empty((count, phase.size), dtype=np.complex64)
    powers[0] = base
    for k in range(1, count):  # one multiply per order: far cheaper than exp or cumprod
        np.multiply(powers[k - 1], base, out=powers[k])
    return powers


def _real_part_of_product(coef: np.ndarray, powers: np.ndarray) -> np.ndarray:
    """Re(coef @ powers) for (C, K) complex coef and (K, N) complex64 powers.

    As one real product over the interleaved (re, im) view, through einsum's own loop: a
    multithreaded BLAS matmul of this thin shape cost 4x more on a busy 2-core machine.
    """
    c = coef.shape[0]
    stacked = np.concatenate([coef.real, -coef.imag]).astype(np.float32)  # (2C, K)
    y = np.einsum("ck,kn->cn", stacked, powers.view(np.float32))  # (2C, 2N): re, im interleaved
    return y[:c, 0::2] + y[c:, 1::2]
