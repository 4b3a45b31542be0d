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
    th_lag: np.ndarray | None = None  # (A, P) first-order lag per step of the thermal grid


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
    wsum = jnp.maximum(wsum, 1e-6)  # no samples (an absent or padded row): zero power, no NaN
    power = (2.0 * jnp.abs(spec) / wsum) ** 2 / 2.0  # per-bin mean-square, (m/s2)^2
    step = cfg.max_order / k  # bin j is centred on order j * step
    order_edges = jnp.clip((jnp.arange(k + 1) - 0.5) * step, 0.0) * speed_hz
    lo, hi = np.log10(PHYS_BAND_HZ[0]), np.log10(PHYS_BAND_HZ[1])
    phys_edges = jnp.asarray(np.logspace(lo, hi, k + 1), jnp.float32)
    env = _envelope(spec, freq, cfg.envelope_band_hz, fs, n, n_valid)
    env_spec, env_wsum = _spectra(env, n_valid)
    env_power = (2.0 * jnp.abs(env_spec) / jnp.maximum(env_wsum, 1e-6)) ** 2 / 2.0
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


def first_order(steady: jax.Array, lag: jax.Array) -> jax.Array:
    """(B, T, P) a first-order response to ``steady`` (B, T, P) with lag (B, P) per step:
    ``y[0] = steady[0]`` (the window opens settled), ``y[t] = lag y[t-1] + (1 - lag) steady[t]``.
    ``lag`` 0 is the steady state itself."""

    def step(y, s):
        y = lag * y + (1.0 - lag) * s
        return y, y

    first = steady[:, 0]
    _, ys = jax.lax.scan(step, first, jnp.moveaxis(steady[:, 1:], 1, 0))
    return jnp.concatenate([first[:, None], jnp.moveaxis(ys, 0, 1)], 1)


def first_order_np(steady: np.ndarray, lag: float) -> np.ndarray:
    """:func:`first_order` in numpy along axis 1 of (N, T, ...) with one scalar lag."""
    out = np.array(steady, np.float64, copy=True)
    for t in range(1, out.shape[1]):
        out[:, t] = lag * out[:, t - 1] + (1.0 - lag) * out[:, t]
    return out


def thermal_expected(thermal_ctx, asset_type, stats: NormStats) -> jax.Array:
    """(B, T, P) the normal model's temperature: its steady state, through the fitted first-order
    lag where the model has one (``[arch] thermal_lag``)."""
    x = thermal_design(jnp.asarray(thermal_ctx))  # (B, T, F)
    coef = jnp.asarray(stats.th_coef)[asset_type]  # (B, P, F)
    expected = jnp.einsum("btf,bpf->btp", x, coef)
    if stats.th_lag is not None:
        expected = first_order(expected, jnp.asarray(stats.th_lag)[asset_type])
    return expected


def thermal_residual(batch, stats: NormStats) -> jax.Array:
    """(B, T, P) standardised residual: (temperature - normal model) / residual std."""
    expected = thermal_expected(batch.thermal_ctx, batch.asset_type, stats)
    sigma = jnp.asarray(stats.th_sigma)[batch.asset_type][:, None, :]  # (B, 1, P)
    resid = (jnp.asarray(batch.thermal_c) - expected) / sigma
    return jnp.where(batch.probe_mask[:, None, :], resid, 0.0)


def asset_thermal_offset(f, stats: NormStats) -> jax.Array:
    """(B, P) the asset's mean standardised residual over its baseline period (linear model)."""
    coef = jnp.asarray(stats.th_coef)[f.asset_type]  # (B, P, F)
    expected = jnp.einsum("bf,bpf->bp", jnp.asarray(f.base_th_x), coef)
    sigma = jnp.asarray(stats.th_sigma)[f.asset_type]  # (B, P)
    return (jnp.asarray(f.base_th_temp) - expected) / sigma


AMBIENT = 2  # the ambient column of :func:`thermal_design`
RISE_FLOOR_C = 2.0  # a baseline rise below this (a probe barely above ambient) sets no scale
SCALE_RANGE = (0.25, 4.0)  # the asset's rise against its type's, clipped to this


def asset_rise_scale(f, stats: NormStats) -> jax.Array:
    """(B, P) the asset's temperature rise over ambient against its type's, per probe, over its
    baseline period: (mean temperature - mean ambient) / (the type's mean expected rise).

    Machines of one type differ in losses and cooling, so their rise over ambient scales
    (the simulator draws each probe's full-load rise from a 1.7x range; real fleets vary as
    much), and an additive offset taken at the baseline's load is wrong at another load by the
    difference in slope. The model is linear, so the mean expected rise is the fitted
    coefficients times the mean regressors, exactly. 1 where the probe's baseline rise is
    below :data:`RISE_FLOOR_C` (no scale can be told from it) or not ready."""
    coef = jnp.asarray(stats.th_coef)[f.asset_type]  # (B, P, F)
    x = jnp.asarray(f.base_th_x)  # (B, F)
    amb = x[:, AMBIENT, None]
    expected_rise = jnp.einsum("bf,bpf->bp", x, coef) - amb
    rise = jnp.asarray(f.base_th_temp) - amb
    ok = (expected_rise > RISE_FLOOR_C) & (rise > RISE_FLOOR_C)
    k = jnp.clip(rise / jnp.where(ok, expected_rise, 1.0), *SCALE_RANGE)
    return jnp.where(ok, k, 1.0)


def thermal_residual_own(batch, stats: NormStats) -> jax.Array:
    """(B, T, P) standardised residual from the asset's own normal model: ambient plus the
    type's expected rise scaled by :func:`asset_rise_scale` (``[arch] thermal_asset =
    "scale"``). Read only where the asset's thermal baseline is ready."""
    expected = thermal_expected(batch.thermal_ctx, batch.asset_type, stats)  # (B, T, P)
    amb = jnp.asarray(batch.thermal_ctx)[..., 1:2]  # (B, T, 1) ambient, as thermal_design's
    k = asset_rise_scale(batch, stats)[:, None, :]
    sigma = jnp.asarray(stats.th_sigma)[batch.asset_type][:, None, :]
    own = (jnp.asarray(batch.thermal_c) - amb - k * (expected - amb)) / sigma
    return jnp.where(batch.probe_mask[:, None, :], own, 0.0)


LAGS = (0.0, 0.5, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97)  # per grid step (0: steady state)


def fit_thermal_model(
    batch, n_types: int, ridge: float = 1e-3, rise: bool = True, lag: bool = False
) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least squares per asset type and probe on the (normal) windows of ``batch`` (numpy).

    ``rise`` (default): the model is of the rise over ambient, its ambient coefficient fixed at
    1, as a machine's steady temperature is ambient plus the heat of its losses. A training
    plant sees a narrow band of ambients, in which a free ambient coefficient is poorly
    determined (it trades off against the intercept) and extrapolates badly to a hot day: on
    the shifted-conditions set (ambient +8 C) it gave inverted thermal AUROC and false alarms.
    ``rise=False``: every coefficient free (models trained before this option).

    ``lag``: the first-order model (``[arch] thermal_lag``): a probe follows its steady state
    with a time constant (20-70 min for bearings and windings), so right after a load step the
    steady state is wrong by the whole step (normal week: a plant-wide load drop held three
    compressors below alpha for 20-60 min). The model is linear in its coefficients and the lag
    is a linear filter, so each lag of :data:`LAGS` (per step of the window's thermal grid) is a
    least-squares fit on the filtered design; the lag with the smallest residual is kept per
    asset type and probe. Returns ``(coef, sigma, lags)`` then."""
    p = batch.thermal_c.shape[-1]
    coef = np.zeros((n_types, p, N_THERMAL_FEATURES), np.float32)
    sigma = np.ones((n_types, p), np.float32)
    lags = np.zeros((n_types, p), np.float32)
    present = batch.present[:, 1]
    design = np.asarray(thermal_design(jnp.asarray(batch.thermal_ctx)), np.float64)
    free = [j for j in range(N_THERMAL_FEATURES) if not (rise and j == AMBIENT)]
    for a in range(n_types):
        rows_a = present & (batch.asset_type == a)
        if rows_a.sum() < 4:
            continue
        filtered = {g: first_order_np(design[rows_a], g) for g in (LAGS if lag else (0.0,))}
        for j in range(p):
            rows = batch.probe_mask[rows_a, j]
            if rows.sum() < 4:
                continue
            y = batch.thermal_c[rows_a][rows][:, :, j].reshape(-1).astype(np.float64)
            best = None
            for g, d in filtered.items():
                x = d[rows].reshape(-1, N_THERMAL_FEATURES)
                base = x[:, AMBIENT] if rise else np.zeros_like(y)
                xf = x[:, free]
                gram = xf.T @ xf + ridge * len(y) * np.eye(len(free))
                c = np.zeros(N_THERMAL_FEATURES)
                c[free] = np.linalg.solve(gram, xf.T @ (y - base))
                if rise:
                    c[AMBIENT] = 1.0
                sd = float(np.std(y - x @ c))
                if best is None or sd < best[0] - 1e-9:
                    best = (sd, g, c)
            assert best is not None
            coef[a, j], lags[a, j] = best[2], best[1]
            sigma[a, j] = max(best[0], 0.05)
    return (coef, sigma, lags) if lag else (coef, sigma)


def fit_vibration_stats(feats: np.ndarray, present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per (row, bin) mean and std of raw features (N, C, 3, K) over windows with vibration."""
    f = feats[present]
    if len(f) == 0:
        k = feats.shape[-1]
        return np.zeros((3, k), np.float32), np.ones((3, k), np.float32)
    mean = f.mean(axis=(0, 1))
    std = np.maximum(f.std(axis=(0, 1)), 0.05)
    return mean.astype(np.float32), std.astype(np.float32)


LINE_HARMONICS = 3  # harmonics of each kinematic line a monitor checks
LINE_HALF_WIDTH = 16  # order bins each side of a line gathered for its local background
LINE_SLIP = 0.01  # relative tolerance of a line's order (rolling-element slip, speed estimate)


def line_prominence(spec: jax.Array, orders: jax.Array, cfg: InputConfig) -> jax.Array:
    """How far each kinematic line stands above its local background, in log10 amplitude.

    ``spec`` (B, C, K) log amplitudes on the order axis (a row of :func:`vibration_features`),
    ``orders`` (B, J) the asset's line orders (0: the asset has no such line). Returns
    (B, C, J, H): for harmonic h of line j, the highest bin within one bin + 1 % of h x order
    (narrower than the explanation's label tolerance, so that close lines such as BPFI and
    2xBSF of a small bearing do not share bins) minus the median of the bins
    around it (+- LINE_HALF_WIDTH bins, the peak zone left out); 0 where the line is absent or
    beyond the axis. A condition monitor's defect-line check, independent of the asset's overall
    level, of sensor gain and of which bin the line falls in, so it carries over to assets
    never seen in training.
    """
    k = spec.shape[-1]
    step = cfg.max_order / k
    h = jnp.arange(1, LINE_HARMONICS + 1, dtype=jnp.float32)
    centre = orders[:, :, None] * h  # (B, J, H) orders
    c_bin = centre / step
    base = jnp.round(c_bin).astype(jnp.int32)
    off = jnp.arange(-LINE_HALF_WIDTH, LINE_HALF_WIDTH + 1)
    pos = base[..., None] + off  # (B, J, H, L) bin numbers
    inside = (pos >= 1) & (pos < k)  # bin 0 is DC
    dist = jnp.abs(pos - c_bin[..., None]) * step
    tol = step + LINE_SLIP * centre  # the line's own bin and its neighbours, plus bearing slip
    peak_zone = dist <= tol[..., None]
    idx = jnp.clip(pos, 0, k - 1)
    vals = jax.vmap(lambda s, i: s[:, i])(spec, idx)  # (B, C, J, H, L)
    peak = jnp.max(jnp.where((peak_zone & inside)[:, None], vals, -jnp.inf), -1)
    bg = jnp.nanmedian(jnp.where((~peak_zone & inside)[:, None], vals, jnp.nan), -1)
    bg = jax.lax.stop_gradient(bg)  # a reference level, not evidence: attributions go to lines
    valid = (orders[:, :, None] > 0) & (centre + tol < cfg.max_order - step)  # (B, J, H)
    prom = jnp.where(valid[:, None], peak - bg, 0.0)
    return jnp.where(jnp.isfinite(prom), prom, 0.0)


def vibration_indicators(vib: jax.Array, orders: jax.Array, cfg: InputConfig) -> jax.Array:
    """(B, 2, J, H) line prominences of the order and envelope-order spectra (raw log spectra
    (B, C, 3, K)), the strongest axis of each; the envelope row finds bearing and gear impacts,
    the order row imbalance (1x), misalignment (2x) and looseness (0.5x and harmonics)."""
    rows = [line_prominence(vib[:, :, r], orders, cfg).max(1) for r in (0, 1)]
    return jnp.stack(rows, 1)


INDICATOR_SCALE = 3.0  # log10 prominences of ~0.3 (a line at twice its background) -> ~1


def n_vibration_indicators() -> int:
    from plant.physics.bearing import KINEMATIC_LINES

    return 2 * 2 * len(KINEMATIC_LINES) * LINE_HARMONICS + 2 * 3 + 1


def vibration_indicator_vector(f, vib_std: jax.Array, change: jax.Array, cfg: InputConfig):
    """(B, n_vibration_indicators()) for the vibration encoder: line prominences of the window
    (order and envelope rows), their change against the asset's baseline (0 until it is frozen),
    the standardised level of each spectrum row and its change, and the baseline flag.

    ``f``: Features (raw log spectra ``f.vib``, baseline ``f.base_vib``, ``f.orders``);
    ``vib_std`` (B, C, 3, K) the standardised spectra and ``change`` their change (model.py)."""
    ready = f.base_ready[:, 0]
    vib = jnp.asarray(f.vib, jnp.float32)
    own = vibration_indicators(vib, f.orders, cfg)  # (B, 2, J, H)
    base = vibration_indicators(jnp.asarray(f.base_vib, jnp.float32), f.orders, cfg)
    delta = jnp.where(ready[:, None, None, None], own - base, 0.0)
    b = vib.shape[0]
    level = vib_std.mean(-1).max(1)  # (B, 3): the loudest axis' mean standardised level
    level_change = change.mean(-1).max(1)  # (B, 3)
    return jnp.concatenate(
        [
            INDICATOR_SCALE * own.reshape(b, -1),
            INDICATOR_SCALE * delta.reshape(b, -1),
            level,
            level_change,
            ready[:, None].astype(jnp.float32),
        ],
        -1,
    )


N_THERMAL_INDICATORS = 9


def thermal_indicator_vector(resid, own, probe_mask, ready) -> jax.Array:
    """(B, 9): the residual from the fleet's normal-behaviour model (latest, window max, rise
    over the window) and from the asset's own baseline (latest, max, mean, rise), hottest probe,
    and the baseline flag; in residual standard deviations."""
    neg = jnp.where(probe_mask[:, None, :], 0.0, -1e3)

    def hottest(x):  # (B, T, P) -> (B,) max over existing probes
        return jnp.max(x + neg, (1, 2))

    def rise(x):  # last quarter minus first quarter, the largest over probes
        q = max(1, x.shape[1] // 4)
        d = x[:, -q:].mean(1) - x[:, :q].mean(1)
        return jnp.max(jnp.where(probe_mask, d, -1e3), -1)

    def latest(x):
        return jnp.max(jnp.where(probe_mask, x[:, -1], -1e3), -1)

    mean_own = jnp.max(jnp.where(probe_mask, own.mean(1), -1e3), -1)
    vals = [latest(resid), hottest(resid), rise(resid), latest(own), hottest(own), mean_own]
    vals += [rise(own)]
    x = jnp.stack(vals, -1)
    x = jnp.where(probe_mask.any(-1, keepdims=True), x, 0.0)
    x = jnp.sign(x) * jnp.log1p(jnp.abs(x))  # residuals of 50 sigma stay in range
    r = ready.astype(jnp.float32)[:, None]
    return jnp.concatenate([x, r, jnp.zeros_like(r)], -1)
