"""The thermal normal-behaviour model (models/features.py): fitted on a narrow band of ambients,
it must still expect the right temperature on a hot day."""

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
