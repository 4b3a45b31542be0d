"""Condition indicators (models/features.py): defect-line prominences at an asset's kinematic
orders, from a real bearing's geometry and from a real CWRU record's envelope spectrum."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from models.config import InputConfig
from models.features import line_prominence, vibration_indicators
from plant.config.assets import BearingGeometry, GearStage
from plant.physics.bearing import KINEMATIC_LINES, defect_frequencies, kinematic_orders

CFG = InputConfig()
STEP = CFG.max_order / CFG.order_bins
# SKF 6205-2RS JEM (the CWRU drive-end bearing)
SKF_6205 = BearingGeometry(n_elements=9, ball_diameter_mm=7.94, pitch_diameter_mm=39.04)


def test_kinematic_orders_follow_geometry() -> None:
    orders = kinematic_orders(SKF_6205)
    d = defect_frequencies(SKF_6205, 1.0)
    assert len(orders) == len(KINEMATIC_LINES)
    named = dict(zip(KINEMATIC_LINES, orders, strict=True))
    assert named["1x"] == 1.0 and named["0.5x"] == 0.5 and named["gear_out"] == 0.0
    assert named["BPFO"] == pytest.approx(3.585, abs=0.01)  # published 3.5848 x shaft
    assert named["BPFI"] == pytest.approx(5.415, abs=0.01)  # published 5.4152 x shaft
    assert named["2xBSF"] == pytest.approx(2 * d.bsf_hz)
    geared = kinematic_orders(SKF_6205, GearStage(input_teeth=23, output_teeth=61))
    assert geared[-1] == pytest.approx(23 / 61)


def _spectrum(lines: dict[float, float], noise: float = 0.05, seed: int = 0) -> np.ndarray:
    """(1, 1, K) log10 amplitudes: a flat floor with noise and peaks (order -> height)."""
    rng = np.random.default_rng(seed)
    spec = -2.0 + noise * rng.standard_normal(CFG.order_bins)
    for order, height in lines.items():
        spec[round(float(order) / STEP)] += height
    return spec[None, None].astype(np.float32)


def test_prominence_finds_a_line_at_its_order_and_harmonics() -> None:
    orders = np.asarray([kinematic_orders(SKF_6205)], np.float32)
    bpfo = orders[0, KINEMATIC_LINES.index("BPFO")]
    spec = _spectrum({bpfo: 0.8, 2 * bpfo: 0.5})
    prom = np.asarray(line_prominence(jnp.asarray(spec), jnp.asarray(orders), CFG))[0, 0]
    j = KINEMATIC_LINES.index("BPFO")
    assert prom[j, 0] == pytest.approx(0.8, abs=0.15)
    assert prom[j, 1] == pytest.approx(0.5, abs=0.15)
    others = [i for i, name in enumerate(KINEMATIC_LINES) if name not in ("BPFO", "gear_out")]
    # lines away from BPFO (and its harmonics) see only the floor's noise
    far = [i for i in others if all(abs(h * orders[0, i] - bpfo * k) > 0.5
                                    for h in (1, 2, 3) for k in (1, 2))]  # fmt: skip
    assert far and np.abs(prom[far, 0]).max() < 0.25
    # no gear on this asset: its gear line contributes nothing
    assert np.all(prom[KINEMATIC_LINES.index("gear_out")] == 0.0)


def test_prominence_ignores_level_and_harmonics_beyond_the_axis() -> None:
    orders = np.asarray([kinematic_orders(SKF_6205)], np.float32)
    bpfi = orders[0, KINEMATIC_LINES.index("BPFI")]
    spec = _spectrum({bpfi: 1.0})
    a = np.asarray(line_prominence(jnp.asarray(spec), jnp.asarray(orders), CFG))
    b = np.asarray(line_prominence(jnp.asarray(spec + 1.5), jnp.asarray(orders), CFG))
    np.testing.assert_allclose(a, b, atol=1e-5)  # a gain change moves nothing
    j = KINEMATIC_LINES.index("BPFI")
    assert 3 * bpfi > CFG.max_order and a[0, 0, j, 2] == 0.0  # 16.2 x: off the axis


@pytest.mark.parametrize(("stem", "line"), [("IR007_0", "BPFI"), ("OR021@6_0", "BPFO")])
def test_envelope_indicator_on_real_cwru_records(shared_data, stem, line) -> None:
    """The in-graph envelope spectrum of a real CWRU fault record stands out at its defect
    line in every one-second segment; the normal record's does not at any defect line."""
    from models.batch import empty_batch
    from models.features import vibration_features
    from tests.test_physics_cwru import FS, load_de

    orders = np.asarray([kinematic_orders(SKF_6205)], np.float32)
    j = KINEMATIC_LINES.index(line)
    defects = [KINEMATIC_LINES.index(n) for n in ("BPFO", "BPFI", "2xBSF")]

    def prominences(x: np.ndarray, shaft_hz: float) -> np.ndarray:
        n = CFG.vibration_samples
        segs = x[: x.size // n * n].reshape(-1, n)[:6]
        b = empty_batch(CFG, len(segs))
        b.vibration[:] = segs[:, None, :].astype(np.float32)
        b.sample_rate_hz[:] = FS
        b.shaft_speed_hz[:] = shaft_hz
        feats = vibration_features(b, CFG)
        o = jnp.asarray(np.repeat(orders, len(segs), 0))
        return np.asarray(vibration_indicators(feats, o, CFG))[:, 1]  # envelope row (S, J, H)

    fault = prominences(*load_de(shared_data, stem))
    normal = prominences(*load_de(shared_data, "Normal_0"))
    assert fault[:, j, 0].min() > 0.3  # the line stands > 2x above its background
    assert normal[:, defects, 0].max() < fault[:, j, 0].min()
