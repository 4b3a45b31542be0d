"""Normal behaviour across operating conditions: the thermal model (models/features.py), fitted on
a narrow band of ambients, still expects the right temperature on a hot day; vibration indicators
(models/train.py, models/model.py) are judged at the load they were measured at."""

from __future__ import annotations

import types

import jax.numpy as jnp
import numpy as np

from models.features import AMBIENT, fit_thermal_model, thermal_design


def _windows(rng: np.random.Generator, n: int, ambient: tuple[float, float]):
    """``n`` windows of 8 points of one type and two probes: steady temperature = ambient +
    rise(load), the rise differing per probe, plus sensor noise; ambient and load correlated a
    little, as a plant's afternoon is both warmer and busier."""
    t = 8
    amb = rng.uniform(*ambient, (n, 1)).repeat(t, 1)
    load = np.clip(0.6 + 0.05 * (amb - amb.mean()) + rng.normal(0, 0.12, (n, t)), 0.2, 1.0)
    speed = np.full((n, t), 1450.0)
    run = np.ones((n, t))
    ctx = np.stack([load, amb, speed, run], -1).astype(np.float32)  # (N, T, 4)
    rise = np.stack([12 * load + 8 * load**2, 25 * load + 15 * load**2], -1)
    temp = amb[..., None] + rise + rng.normal(0, 0.3, (n, t, 2))
    return types.SimpleNamespace(
        thermal_c=temp.astype(np.float32),
        thermal_ctx=ctx,
        present=np.ones((n, 4), bool),
        asset_type=np.zeros(n, np.int32),
        probe_mask=np.ones((n, 2), bool),
    )


def _mean_residual(coef: np.ndarray, b) -> np.ndarray:
    x = np.asarray(thermal_design(jnp.asarray(b.thermal_ctx)), np.float64)
    return (b.thermal_c - np.einsum("ntf,pf->ntp", x, coef[0].astype(np.float64))).mean((0, 1))


def test_the_rise_over_ambient_model_extrapolates_to_a_hot_day() -> None:
    rng = np.random.default_rng(0)
    train = _windows(rng, 400, (18.0, 21.0))  # a training plant's spring
    hot = _windows(rng, 200, (29.0, 31.0))  # the shifted-conditions set's summer
    rise, sigma = fit_thermal_model(train, 1)
    free, _ = fit_thermal_model(train, 1, rise=False)
    np.testing.assert_array_equal(rise[0, :, AMBIENT], 1.0)
    assert np.all(np.abs(_mean_residual(rise, hot)) < 0.25)  # within the sensor noise
    assert np.all(sigma[0] < 0.5)
    # the free fit matches the training band about as well, but misses on the hot day
    assert np.all(np.abs(_mean_residual(free, train)) < 0.1)
    assert np.max(np.abs(_mean_residual(free, hot))) > 3 * np.max(np.abs(_mean_residual(rise, hot)))


def test_a_type_with_too_few_windows_keeps_a_zero_model() -> None:
    b = _windows(np.random.default_rng(1), 3, (20.0, 21.0))
    coef, sigma = fit_thermal_model(b, 2)  # type 1 has no windows at all
    assert not coef[1].any() and np.all(sigma[1] == 1.0)
    assert not coef[0].any()  # 3 windows < 4: not fitted either


def test_vibration_indicators_are_judged_at_their_own_load() -> None:
    """``[arch] load_conditioned``: a gearbox's mesh line grows with torque, so a normal window
    at a load above any seen in training is not a deviation once the indicators are moved along
    the type's slope on load; a fault (the same line, higher at the same load) still is."""
    from flax import nnx

    from models.config import ModelConfig
    from models.model import FusionModel
    from models.train import _fit_load_slopes
    from tests.test_model_baseline import TINY

    rng = np.random.default_rng(2)
    n, k = 600, 5
    types = rng.integers(0, 2, n)  # two types: slope 2.0 on indicator 0 for type 0, none else
    load = rng.uniform(0.45, 0.85, n)
    ind = rng.normal(0, 0.1, (n, k))
    ind[:, 0] += np.where(types == 0, 2.0 * load, 0.0)
    load[:12] = np.nan  # no context: no correction, and no part in the fit
    on_cfg = {**TINY, "arch": {**TINY["arch"], "load_conditioned": True}}
    on = FusionModel(ModelConfig.model_validate(on_cfg), nnx.Rngs(0))
    off = FusionModel(ModelConfig.model_validate(TINY), nnx.Rngs(0))  # the default
    assert off.ind_beta is None
    moved = _fit_load_slopes(on, ind, load, types)
    beta = np.asarray(on.ind_beta[...])
    assert abs(beta[0, 0] - 2.0) < 0.2 and np.all(np.abs(beta[0, 1:k]) < 0.2)  # 4 s.e.
    assert np.all(np.abs(beta[1, :k]) < 0.2)
    assert abs(float(on.ind_load0[...][0]) - np.nanmedian(load[types == 0])) < 1e-6
    assert np.std(moved[types == 0, 0]) < 0.15  # the load's share is gone
    np.testing.assert_array_equal(moved[:12], ind[:12])
    for model in (on, off):  # the type's normal statistics, as fit_indicator_stats sets them
        ref = moved if model is on else ind
        mu = np.zeros(np.asarray(model.ind_mu[...]).shape, np.float32)
        sd = np.ones_like(mu)
        for t in (0, 1):
            mu[0, t, :k] = np.median(ref[types == t], 0)
            sd[0, t, :k] = np.maximum(np.std(ref[types == t], 0), 0.1)
        model.ind_mu[...], model.ind_sd[...] = jnp.asarray(mu), jnp.asarray(sd)

    def z(model, level: float, at: float) -> float:  # indicator 0's deviation, type 0
        x = jnp.asarray(np.r_[2.0 * level, np.zeros(k - 1)][None], jnp.float32)
        out = model.standardise_indicators(0, x, jnp.zeros(1, jnp.int32), jnp.asarray([at]))
        return float(out[0, 0])

    assert abs(z(on, 1.1, 1.1)) < 0.5 < z(off, 1.1, 1.1)  # a busy day: normal at its load
    assert z(on, 1.4, 1.1) > 1.0  # the line 0.6 above its level at that load: a deviation
    assert z(on, 1.1, float("nan")) > 0.5  # no load known: not moved, judged as without


def test_the_first_order_thermal_model_follows_a_probe_after_a_load_step() -> None:
    """A probe relaxes to its steady state with a time constant (models/features.py,
    ``[arch] thermal_lag``): after a load drop the steady-state model reads the still-warm probe
    as a residual of several sigma; the first-order fit finds the lag and the residual stays
    at the sensor noise, through the same ``thermal_residual`` the model scores with."""
    from models.features import LAGS, NormStats, first_order, thermal_residual

    rng = np.random.default_rng(3)
    n, t, true_lag = 600, 32, 0.9
    step_at = rng.integers(4, t - 4, n)
    before = rng.uniform(0.6, 0.9, n)
    after = rng.uniform(0.3, 0.6, n)
    load = np.where(np.arange(t)[None] < step_at[:, None], before[:, None], after[:, None])
    amb = rng.uniform(17.0, 22.0, (n, 1)).repeat(t, 1)
    ctx = np.stack([load, amb, np.full((n, t), 1450.0), np.ones((n, t))], -1).astype(np.float32)
    steady = amb[..., None] + np.stack([20 * load, 30 * load], -1)  # (N, T, 2)
    # each window opens settled at its first load, then follows with the probes' lag
    temp = np.asarray(first_order(jnp.asarray(steady), jnp.full((n, 2), true_lag)))
    b = types.SimpleNamespace(
        thermal_c=(temp + rng.normal(0, 0.2, temp.shape)).astype(np.float32),
        thermal_ctx=ctx,
        present=np.ones((n, 4), bool),
        asset_type=np.zeros(n, np.int32),
        probe_mask=np.ones((n, 2), bool),
    )
    coef0, sigma0 = fit_thermal_model(b, 1)
    coef, sigma, lags = fit_thermal_model(b, 1, lag=True)
    assert all(np.isclose(LAGS, g).any() for g in lags[0])
    np.testing.assert_allclose(lags[0], true_lag, atol=0.05)
    assert np.all(sigma[0] < 0.4) and np.all(sigma0[0] > 3 * sigma[0])  # noise: 0.2
    static = np.asarray(thermal_residual(b, NormStats(None, None, coef0, sigma0)))
    dynamic = np.asarray(thermal_residual(b, NormStats(None, None, coef, sigma, lags)))
    # the step's aftermath (3 points on): the steady-state model's largest |residual| in
    # its own sigmas is far larger than the first-order model's
    after_step = np.arange(t)[None] >= step_at[:, None] + 3
    assert np.abs(dynamic[after_step]).max() < 6
    assert (
        np.abs(static[after_step] * sigma0[0]).max()
        > 3 * np.abs(dynamic[after_step] * sigma[0]).max()
    )
