"""Impact trains and the structural resonances they ring: the physics of a local defect.

A local defect (a spall on a race or a ball, a cracked gear tooth) strikes once per pass. Each
strike is short compared with the structure's response, so the measured signal is the strike
train convolved with the impulse response of the bearing housing's resonances: decaying
sinusoids at a few kHz. That is why envelope analysis works: the defect rate lives in the
envelope of the resonance band, not in the low-frequency spectrum.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def impact_times_s(
    rate_hz: float, duration_s: float, jitter: float, rng: np.random.Generator
) -> np.ndarray:
    """Strike times in [0, duration_s) repeating at ``rate_hz`` on average.

    Each interval is 1/rate x (1 + jitter x N(0, 1)), independently: rolling elements slip, so
    strikes are not exactly periodic (jitter 0.01-0.02 is typical). The mean rate stays the
    kinematic one. The first strike falls at a uniform random phase.
    """
    if not rate_hz > 0 or not duration_s > 0:
        raise ValueError(f"rate_hz and duration_s must be > 0, got {rate_hz}, {duration_s}")
    period_s = 1.0 / rate_hz
    count = int(duration_s * rate_hz) + 3
    intervals = period_s * np.maximum(1.0 + jitter * rng.standard_normal(count - 1), 0.05)
    times = rng.uniform(0.0, period_s) + np.concatenate(([0.0], np.cumsum(intervals)))
    return times[times < duration_s]


def resonance_kernel(
    fs_hz: float, n: int, modes: Sequence[tuple[float, float, float]]
) -> np.ndarray:
    """Impulse response (n,) of a sum of damped modes, peak-normalised to 1.

    ``modes`` holds (natural frequency Hz, damping ratio, weight). The response is truncated
    where the slowest mode has decayed to e^-9 (about 1e-4) and is zero beyond.
    """
    slowest_s = max(1.0 / (zeta * 2 * math.pi * f) for f, zeta, _ in modes)
    length = min(n, math.ceil(9.0 * slowest_s * fs_hz))
    t = np.arange(length) / fs_hz
    kernel = np.zeros(n)
    for freq_hz, zeta, weight in modes:
        if not 0 < freq_hz < fs_hz / 2 or not 0 < zeta < 1:
            raise ValueError(f"mode ({freq_hz} Hz, zeta {zeta}) must lie in (0, fs/2) x (0, 1)")
        omega = 2 * math.pi * freq_hz
        omega_d = omega * math.sqrt(1.0 - zeta * zeta)
        kernel[:length] += weight * np.exp(-zeta * omega * t) * np.sin(omega_d * t)
    return kernel / np.abs(kernel).max()
