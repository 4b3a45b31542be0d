"""Envelope analysis, ISO 20816 velocity severity and time statistics of a vibration signal.

One envelope routine for the whole project (the CWRU check, the classical baseline, the
dashboard and evaluation): band-pass around the structural resonance excited by the impacts,
Hilbert envelope, spectrum of the envelope. Band-pass and Hilbert transform are one step here:
the analytic signal of the band is the inverse FFT of the band's positive frequencies, doubled.
When no band is given, a kurtogram-lite picks it: among dyadic and half-shifted dyadic bands
(widths fs/4, fs/8, fs/16) the one whose complex envelope has the highest spectral kurtosis
(Antoni's criterion: impacts make the envelope spiky, sinusoids and Gaussian noise do not).
"""

from __future__ import annotations

import dataclasses
from enum import StrEnum

import numpy as np
import scipy.fft as sfft

from plant.config.assets import Foundation

KURTOGRAM_LEVELS = (1, 2, 3)  # band width fs / 2 / 2**level: fs/4, fs/8, fs/16


@dataclasses.dataclass(frozen=True, slots=True)
class EnvelopeSpectrum:
    """One-sided amplitude spectrum of the envelope (same units as the input signal)."""

    freqs_hz: np.ndarray  # (F,)
    amplitude: np.ndarray  # (F,)
    band_hz: tuple[float, float]  # the band-pass the envelope was taken in
    band_kurtosis: float  # spectral kurtosis of the complex envelope in that band

    @property
    def resolution_hz(self) -> float:
        return float(self.freqs_hz[1] - self.freqs_hz[0])


@dataclasses.dataclass(frozen=True, slots=True)
class Peak:
    """A spectral peak: where, how high, and how far above the local floor (median)."""

    freq_hz: float
    amplitude: float
    prominence: float  # amplitude / median amplitude in [0.5 f, 1.5 f]


def candidate_bands(fs_hz: float, levels: tuple[int, ...] = KURTOGRAM_LEVELS) -> list[tuple]:
    """Dyadic bands of [0, fs/2] at each level plus the half-shifted ones between them."""
    nyq = fs_hz / 2.0
    bands: list[tuple[float, float]] = []
    for level in levels:
        width = nyq / 2**level
        starts = np.arange(0.0, nyq - width + 1e-9, width / 2.0)
        bands += [(float(s), float(s + width)) for s in starts]
    return bands


def _analytic_band(spec: np.ndarray, freqs: np.ndarray, n: int, band: tuple) -> np.ndarray:
    full = np.zeros(n, dtype=np.complex128)
    keep = (freqs >= band[0]) & (freqs <= band[1])
    full[: spec.size] = np.where(keep, 2.0 * spec, 0.0)
    return sfft.ifft(full)


def _spectral_kurtosis(analytic: np.ndarray) -> float:
    power = np.abs(analytic) ** 2
    mean_power = float(power.mean())
    return float((power**2).mean() / mean_power**2 - 2.0) if mean_power > 0 else 0.0


def envelope_spectrum(
    signal: np.ndarray, fs_hz: float, band_hz: tuple[float, float] | None = None
) -> EnvelopeSpectrum:
    """Envelope spectrum of a 1-D ``signal`` sampled at ``fs_hz``.

    ``band_hz`` fixes the band-pass; None lets the kurtogram-lite choose it. The envelope is
    Hann-windowed before its FFT; amplitudes are scaled so a sinusoidal envelope modulation of
    amplitude a reads a.
    """
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim != 1 or x.size < 64:
        raise ValueError(f"signal must be 1-D with >= 64 samples, got shape {x.shape}")
    n = x.size
    spec = sfft.rfft(x - x.mean())
    freqs = sfft.rfftfreq(n, 1.0 / fs_hz)
    if band_hz is None:
        scored = [
            (_spectral_kurtosis(_analytic_band(spec, freqs, n, b)), b)
            for b in candidate_bands(fs_hz)
        ]
        kurt, band = max(scored)
        analytic = _analytic_band(spec, freqs, n, band)
    else:
        band = (float(band_hz[0]), float(band_hz[1]))
        if not 0 <= band[0] < band[1] <= fs_hz / 2:
            raise ValueError(f"band_hz {band_hz} must satisfy 0 <= lo < hi <= fs/2 = {fs_hz / 2}")
        analytic = _analytic_band(spec, freqs, n, band)
        kurt = _spectral_kurtosis(analytic)
    env = np.abs(analytic)
    window = np.hanning(n)
    amp = np.abs(sfft.rfft((env - env.mean()) * window)) * 2.0 / window.sum()
    return EnvelopeSpectrum(freqs, amp, band, kurt)


def _peak_at(spectrum: EnvelopeSpectrum, idx: int) -> Peak:
    amp, freqs = spectrum.amplitude, spectrum.freqs_hz
    f = float(freqs[idx])
    # Gaussian (log-parabolic) interpolation between bins: the Hann main lobe is near-Gaussian.
    if 0 < idx < amp.size - 1 and min(amp[idx - 1 : idx + 2]) > 0:
        la, lb, lc = np.log(amp[idx - 1 : idx + 2])
        denom = la - 2 * lb + lc
        if denom < 0:
            f += 0.5 * (la - lc) / denom * spectrum.resolution_hz
    floor_sel = (freqs >= 0.5 * f) & (freqs <= 1.5 * f)
    floor = float(np.median(amp[floor_sel])) if floor_sel.any() else 0.0
    prominence = float(amp[idx] / floor) if floor > 0 else float("inf")
    return Peak(freq_hz=f, amplitude=float(amp[idx]), prominence=prominence)


def dominant_peak(spectrum: EnvelopeSpectrum, lo_hz: float, hi_hz: float) -> Peak:
    """The highest envelope-spectrum bin in [lo_hz, hi_hz]."""
    sel = np.flatnonzero((spectrum.freqs_hz >= lo_hz) & (spectrum.freqs_hz <= hi_hz))
    if sel.size == 0:
        raise ValueError(f"no bins in [{lo_hz}, {hi_hz}] Hz (resolution {spectrum.resolution_hz})")
    return _peak_at(spectrum, int(sel[np.argmax(spectrum.amplitude[sel])]))


def peak_near(spectrum: EnvelopeSpectrum, target_hz: float, tolerance: float = 0.02) -> Peak:
    """The highest bin within the larger of ``tolerance`` x target and 1.5 bins of ``target_hz``."""
    half = max(tolerance * target_hz, 1.5 * spectrum.resolution_hz)
    return dominant_peak(spectrum, target_hz - half, target_hz + half)


def peak_order(
    spectrum: EnvelopeSpectrum, shaft_hz: float, order: float, tolerance: float = 0.02
) -> Peak:
    """:func:`peak_near` at ``order`` x ``shaft_hz`` (e.g. BPFI order 5.4152)."""
    return peak_near(spectrum, order * shaft_hz, tolerance)


# --- ISO 20816 velocity severity -----------------------------------------------------------


class IsoZone(StrEnum):
    """ISO 20816-3 evaluation zones: A new, B unrestricted, C restricted, D damage."""

    A = "A"
    B = "B"
    C = "C"
    D = "D"


# Zone boundaries A/B, B/C, C/D in mm/s RMS (broadband velocity 10-1000 Hz), ISO 20816-3:2022
# Tables A.1 (group 1: > 300 kW, shaft height >= 315 mm) and A.2 (group 2: 15-300 kW). Groups
# 3 and 4 (pumps with separate / integrated driver, ISO 10816-3:2009) share groups 1 / 2 values.
ISO_20816_3_ZONES_MM_S: dict[tuple[int, Foundation], tuple[float, float, float]] = {
    (1, Foundation.RIGID): (2.3, 4.5, 7.1),
    (1, Foundation.FLEXIBLE): (3.5, 7.1, 11.0),
    (2, Foundation.RIGID): (1.4, 2.8, 4.5),
    (2, Foundation.FLEXIBLE): (2.3, 4.5, 7.1),
}
_GROUP_TABLE = {1: 1, 2: 2, 3: 1, 4: 2}


def zone_boundaries_mm_s(group: int, foundation: Foundation | str) -> tuple[float, float, float]:
    """The A/B, B/C and C/D boundaries (mm/s RMS) for an ISO 20816-3 machine group."""
    if group not in _GROUP_TABLE:
        raise ValueError(f"ISO 20816-3 machine group must be 1..4, got {group}")
    return ISO_20816_3_ZONES_MM_S[(_GROUP_TABLE[group], Foundation(foundation))]


def iso_zone(velocity_rms_mm_s: float, group: int, foundation: Foundation | str) -> IsoZone:
    """The zone of a velocity RMS; a value equal to a boundary belongs to the lower zone."""
    ab, bc, cd = zone_boundaries_mm_s(group, foundation)
    v = float(velocity_rms_mm_s)
    if v <= ab:
        return IsoZone.A
    if v <= bc:
        return IsoZone.B
    return IsoZone.C if v <= cd else IsoZone.D


def iso_velocity_rms_mm_s(
    accel_m_s2: np.ndarray, fs_hz: float, band_hz: tuple[float, float] = (10.0, 1000.0)
) -> np.ndarray:
    """Broadband velocity RMS in mm/s over ``band_hz`` from acceleration, along the last axis.

    Integration in the frequency domain (V = A / (j 2 pi f)), band-limited by zeroing bins outside
    the band, RMS by Parseval. Returns an array of the leading shape (a 0-d array for 1-D input).
    """
    a = np.asarray(accel_m_s2, dtype=np.float64)
    n = a.shape[-1]
    spec = sfft.rfft(a, axis=-1)
    freqs = sfft.rfftfreq(n, 1.0 / fs_hz)
    keep = (freqs >= band_hz[0]) & (freqs <= band_hz[1]) & (freqs > 0)
    vel = np.where(keep, spec / (2j * np.pi * np.where(freqs > 0, freqs, 1.0)), 0.0)
    weight = np.full(freqs.size, 2.0)
    weight[0] = 1.0
    if n % 2 == 0:
        weight[-1] = 1.0
    power = (weight * np.abs(vel) ** 2).sum(axis=-1) / n**2
    return np.sqrt(power) * 1000.0


# --- time statistics -------------------------------------------------------------------------


def rms(x: np.ndarray) -> np.ndarray:
    """RMS about the mean (AC RMS) along the last axis."""
    a = np.asarray(x, dtype=np.float64)
    return np.sqrt(((a - a.mean(axis=-1, keepdims=True)) ** 2).mean(axis=-1))


def kurtosis(x: np.ndarray) -> np.ndarray:
    """Pearson kurtosis (3 for Gaussian noise, 1.5 for a sinusoid) along the last axis."""
    a = np.asarray(x, dtype=np.float64)
    d = a - a.mean(axis=-1, keepdims=True)
    m2 = (d**2).mean(axis=-1)
    return (d**4).mean(axis=-1) / np.where(m2 > 0, m2, np.inf) ** 2


def crest_factor(x: np.ndarray) -> np.ndarray:
    """Peak (absolute, about the mean) over RMS along the last axis."""
    a = np.asarray(x, dtype=np.float64)
    d = a - a.mean(axis=-1, keepdims=True)
    r = np.sqrt((d**2).mean(axis=-1))
    return np.abs(d).max(axis=-1) / np.where(r > 0, r, np.inf)
