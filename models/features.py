"""In-graph features (jnp): order and envelope spectra, and the thermal normal-behaviour residual.

Vibration spectra are put on a shaft-order axis (frequency / shaft speed) by interpolating the
cumulative power spectrum at the order-bin edges, so each bin holds the energy that falls in it
whatever the sampling rate and FFT resolution: a new sampling rate is a config change. A third row
holds log-spaced physical-frequency bands (resonances do not move with speed).

The thermal residual is temperature minus a linear normal-behaviour model of temperature given
load, ambient, speed and running state, fitted per asset type and probe on normal training
windows (:func:`fit_thermal_model`); its coefficients travel with the model's weights.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from models.config import InputConfig

EPS_AMP = 1e-6
PHYS_BAND_HZ = (10.0, 10_000.0)  # log-spaced physical bands, upper ones empty at low rates
N_THERMAL_FEATURES = 6  # 1, load, ambient, speed/100, running, load^2


class NormStats(NamedTuple):
    """Normaliser statistics fitted on normal training windows (saved beside the weights)."""

    vib_mean: np.ndarray  # (3, K) log-amplitude mean per feature row and bin
    vib_std: np.ndarray  # (3, K)
    th_coef: np.ndarray  # (A, P, F) linear model of temperature per asset type and probe
    th_sigma: np.ndarray  # (A, P) residual std


def identity_stats(cfg: InputConfig, n_types: int) -> NormStats:
    k, p = cfg.order_bins, cfg.thermal_probes
    return NormStats(
        vib_mean=np.zeros((3, k), np.float32),
        vib_std=np.ones((3, k), np.float32),
        th_coef=np.zeros((n_types, p, N_THERMAL_FEATURES), np.float32),
        th_sigma=np.ones((n_types, p), np.float32),
    )


def _binned_energy(power: jax.Array, freq_hz: jax.Array, edges_hz: jax.Array) -> jax.Array:
    """Energy of ``power`` (F,) at ``freq_hz`` (F,) inside each [edge_j, edge_j+1) (K+1,)."""
    cum = jnp.cumsum(power)
    at = jnp.interp(edges_hz, freq_hz, cum, left=0.0, right=cum[-1])
    return jnp.maximum(at[1:] - at[:-1], 0.0)


def _spectra(x: jax.Array, n_valid: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Windowed one-sided spectrum (C, F) complex and the window's sum, for one snapshot (C, N)."""
    n = x.shape[-1]
    idx = jnp.arange(n)
    length = jnp.maximum(n_valid, 2)
    valid = idx < length
    win = jnp.where(valid, 0.5 - 0.5 * jnp.cos(2 * jnp.pi * idx / (length - 1)), 0.0)
    mean = jnp.sum(x * valid, -1, keepdims=True) / length
    spec = jnp.fft.rfft((x - mean) * win, axis=-1)
    return spec, jnp.sum(win)


def _envelope(
    spec: jax.Array,
    freq_hz: jax.Array,
    band: tuple[float, float],
    fs: jax.Array,
    n: int,
    n_valid: jax.Array,
) -> jax.Array:
    """Hilbert envelope (C, N) of the band-passed signal, from its one-sided spectrum."""
    hi = jnp.minimum(band[1], 0.45 * fs)
    keep = (freq_hz >= band[0]) & (freq_hz <= hi)
    analytic = jnp.zeros((*spec.shape[:-1], n), jnp.complex64)
    analytic = analytic.at[..., : spec.shape[-1]].set(2.0 * spec * keep)
    env = jnp.abs(jnp.fft.ifft(analytic, axis=-1))
    return env * (jnp.arange(n) < n_valid)


def _one_snapshot(x, n_valid, fs, speed_hz, cfg: InputConfig) -> jax.Array:
    """(C, N) -> (C, 3, K) log amplitudes: order spectrum, envelope order spectrum, phys bands."""
    n, k = x.shape[-1], cfg.order_bins
    freq = jnp.arange(n // 2 + 1) * fs / n
    spec, wsum = _spectra(x, n_valid)
    power = (2.0 * jnp.abs(spec) / wsum) ** 2 / 2.0  # per-bin mean-square, (m/s2)^2
    step = cfg.max_order / k  # bin j is centred on order j * step
    order_edges = jnp.clip((jnp.arange(k + 1) - 0.5) * step, 0.0) * speed_hz
    lo, hi = np.log10(PHYS_BAND_HZ[0]), np.log10(PHYS_BAND_HZ[1])
    phys_edges = jnp.asarray(np.logspace(lo, hi, k + 1), jnp.float32)
    env = _envelope(spec, freq, cfg.envelope_band_hz, fs, n, n_valid)
    env_spec, env_wsum = _spectra(env, n_valid)
    env_power = (2.0 * jnp.abs(env_spec) / env_wsum) ** 2 / 2.0
    binned = jax.vmap(_binned_energy, in_axes=(0, None, None))
    rows = [
        binned(power, freq, order_edges),
        binned(env_power, freq, order_edges),
        binned(power, freq, phys_edges),
    ]
    return jnp.log10(jnp.sqrt(jnp.stack(rows, 1)) + EPS_AMP)  # (C, 3, K)


def vibration_features(batch, cfg: InputConfig, stats: NormStats | None = None) -> jax.Array:
    """(B, C, 3, K) standardised log-amplitude spectra on the order axis (features in-graph)."""
    x = jnp.asarray(batch.vibration, jnp.float32)
    n_valid = jnp.asarray(batch.vibration_len)
    fs = jnp.maximum(jnp.asarray(batch.sample_rate_hz, jnp.float32), 1.0)
    speed = jnp.maximum(jnp.asarray(batch.shaft_speed_hz, jnp.float32), 1.0)
    feats = jax.vmap(lambda *a: _one_snapshot(*a, cfg))(x, n_valid, fs, speed)
    if stats is None:
        return feats
    return (feats - stats.vib_mean[None, None]) / stats.vib_std[None, None]


def thermal_design(thermal_ctx: jax.Array) -> jax.Array:
    """(..., T, 4) context to (..., T, F) regressors of the normal-behaviour model."""
    load, amb, speed, run = (thermal_ctx[..., i] for i in range(4))
    ones = jnp.ones_like(load)
    return jnp.stack([ones, load, amb, speed / 100.0, run, load**2], -1)


def thermal_residual(batch, stats: NormStats) -> jax.Array:
    """(B, T, P) standardised residual: (temperature - normal model) / residual std."""
    x = thermal_design(jnp.asarray(batch.thermal_ctx))  # (B, T, F)
    coef = jnp.asarray(stats.th_coef)[batch.asset_type]  # (B, P, F)
    expected = jnp.einsum("btf,bpf->btp", x, coef)
    sigma = jnp.asarray(stats.th_sigma)[batch.asset_type][:, None, :]  # (B, 1, P)
    resid = (jnp.asarray(batch.thermal_c) - expected) / sigma
    return jnp.where(batch.probe_mask[:, None, :], resid, 0.0)


def asset_thermal_offset(f, stats: NormStats) -> jax.Array:
    """(B, P) the asset's mean standardised residual over its baseline period (linear model)."""
    coef = jnp.asarray(stats.th_coef)[f.asset_type]  # (B, P, F)
    expected = jnp.einsum("bf,bpf->bp", jnp.asarray(f.base_th_x), coef)
    sigma = jnp.asarray(stats.th_sigma)[f.asset_type]  # (B, P)
    return (jnp.asarray(f.base_th_temp) - expected) / sigma


def fit_thermal_model(batch, n_types: int, ridge: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """Least squares per asset type and probe on the (normal) windows of ``batch`` (numpy)."""
    p = batch.thermal_c.shape[-1]
    coef = np.zeros((n_types, p, N_THERMAL_FEATURES), np.float32)
    sigma = np.ones((n_types, p), np.float32)
    present = batch.present[:, 1]
    design = np.asarray(thermal_design(jnp.asarray(batch.thermal_ctx)))
    for a in range(n_types):
        for j in range(p):
            rows = present & (batch.asset_type == a) & batch.probe_mask[:, j]
            if rows.sum() < 4:
                continue
            x = design[rows].reshape(-1, N_THERMAL_FEATURES)
            y = batch.thermal_c[rows][:, :, j].reshape(-1)
            gram = x.T @ x + ridge * len(y) * np.eye(N_THERMAL_FEATURES)
            beta = np.linalg.solve(gram, x.T @ y)
            coef[a, j] = beta
            sigma[a, j] = max(float(np.std(y - x @ beta)), 0.05)
    return coef, sigma


def fit_vibration_stats(feats: np.ndarray, present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per (row, bin) mean and std of raw features (N, C, 3, K) over windows with vibration."""
    f = feats[present]
    if len(f) == 0:
        k = feats.shape[-1]
        return np.zeros((3, k), np.float32), np.ones((3, k), np.float32)
    mean = f.mean(axis=(0, 1))
    std = np.maximum(f.std(axis=(0, 1)), 0.05)
    return mean.astype(np.float32), std.astype(np.float32)
