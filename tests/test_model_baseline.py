"""Per-asset baselines (models/baseline.py) and the fusion switch (ArchConfig.fusion)."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from models.baseline import AssetBaselines
from models.batch import empty_batch
from models.config import ModelConfig
from models.model import FusionModel, featurize
from models.validation import FAST_COMPILE

TINY = {
    "inputs": {
        "vibration_samples": 512,
        "order_bins": 32,
        "note_tokens": 8,
        "image_size": 16,
        "thermal_points": 8,
        "baseline_hours": 1.0,
        "baseline_spacing_s": 600.0,
        "baseline_min_windows": 3,
        "baseline_settle_s": 0.0,  # its own test: probes settled from the first window
    },
    "arch": {"width": 8, "heads": 2},
}
CFG = ModelConfig.model_validate(TINY)
H = 3600 * 10**9


def _rows(n: int, rng: np.random.Generator, level: float = 0.0) -> dict:
    inp = CFG.inputs
    c, k, t, p, s = (
        inp.vibration_channels,
        inp.order_bins,
        inp.thermal_points,
        inp.thermal_probes,
        inp.image_size,
    )
    return {
        "vib": rng.normal(level, 0.1, (n, c, 3, k)).astype(np.float32),
        "thermal_c": np.full((n, t, p), 40.0 + level, np.float32),
        "probe_mask": np.ones((n, p), bool),
        "thermal_ctx": np.tile(np.array([0.8, 20.0, 25.0, 1.0], np.float32), (n, t, 1)),
        "image": np.full((n, s, s, 3), 100 + int(level), np.uint8),
        "present": np.ones((n, 4), bool),
    }


def test_baseline_freezes_after_its_hours_and_survives_save_load(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    base = AssetBaselines(CFG.inputs)
    ts = [0, 300 * 10**9, 600 * 10**9, 1200 * 10**9, 1800 * 10**9, H, H + 600 * 10**9]
    r = _rows(len(ts), rng)
    r["vib"][:] = np.arange(len(ts))[:, None, None, None]  # row i has value i
    ready = base.observe(["A"] * len(ts), ts, **r)
    # 300 s is inside the 600 s spacing (skipped); the window at 1 h closes the baseline
    assert not ready[:5].any() and ready[5:].all()
    rows = base.rows(["A", "B"])
    np.testing.assert_allclose(rows.base_vib[0], np.mean([0, 2, 3, 4]))  # rows 0, 2, 3, 4
    np.testing.assert_allclose(rows.base_th_temp[0], 40.0)
    assert rows.base_ready[0].all() and not rows.base_ready[1].any()  # B never seen
    late = _rows(1, rng, level=50.0)  # frozen: later windows never move it
    base.observe(["A"], [10 * H], **late)
    np.testing.assert_allclose(base.rows(["A"]).base_vib[0], np.mean([0, 2, 3, 4]))
    base.save(tmp_path / "b.npz")
    again = AssetBaselines.load(tmp_path / "b.npz", CFG.inputs)
    for a, b in zip(again.rows(["A"]), base.rows(["A"]), strict=True):
        np.testing.assert_array_equal(a, b)
    base.reset("A")  # after maintenance: a new baseline
    assert not base.ready("A").any()


def test_thermal_baseline_waits_for_settled_probes_after_a_start_or_load_step(
    tmp_path: Path,
) -> None:
    """A probe needs about three time constants to settle: windows after a start or a load
    step are left out of the thermal baseline (others' baselines are not held back)."""
    inputs = CFG.inputs.model_copy(update={"baseline_settle_s": 7200.0})
    rng = np.random.default_rng(4)
    step = 600 * 10**9
    n = 48  # 8 h, one window per 10 min
    ts = [i * step for i in range(n)]
    r = _rows(n, rng)
    r["thermal_ctx"][0, :4, 3] = 0.0  # row 0's history: the machine started in it
    r["thermal_c"][:12] = 30.0  # still warming up for 2 h: must not enter the baseline
    r["thermal_ctx"][15, :4, 0] = 0.4  # row 15's history: a load step 0.4 -> 0.8
    r["thermal_c"][15:27] = 33.0  # the probes follow it for 2 h
    base = AssetBaselines(inputs)
    ready = base.observe(["A"] * 8, ts[:8], **{k: v[:8] for k, v in r.items()})
    assert ready[-1, 0] and ready[-1, 2] and not ready[-1, 1]  # vibration, camera: 1 h
    base.save(tmp_path / "b.npz")  # a restart keeps when the probes were last disturbed
    base = AssetBaselines.load(tmp_path / "b.npz", inputs)
    ready = base.observe(["A"] * (n - 8), ts[8:], **{k: v[8:] for k, v in r.items()})
    # settled from row 12 (2 h after the start) to the load step at row 15, then from row 27,
    # where the baseline has its hour and its 3 windows (rows 12-14) and freezes
    rows = base.rows(["A"])
    assert ready[-1, 1] and rows.base_ready[0, 1]
    np.testing.assert_allclose(rows.base_th_temp[0], 40.0)  # only settled windows
    np.testing.assert_allclose(rows.base_th_x[0, 1], 0.8)  # their load
    # settle 0: every running window counts (models trained before the rule)
    old = AssetBaselines(CFG.inputs.model_copy(update={"baseline_settle_s": 0.0}))
    old.observe(["A"] * n, ts, **r)
    assert old.rows(["A"]).base_th_temp[0, 0] < 40.0


def test_asset_rise_scale_judges_a_probe_at_other_loads_by_its_own_rise() -> None:
    """Machines of one type differ in losses and cooling: an asset whose rise over ambient is
    1.3x its type's is normal at every load under the scale model; an additive offset taken at
    one load misreads it at another, and a fault's extra heat shows in both."""
    from types import SimpleNamespace

    from models.features import (
        N_THERMAL_FEATURES,
        NormStats,
        asset_rise_scale,
        asset_thermal_offset,
        thermal_design,
        thermal_residual,
        thermal_residual_own,
    )

    p, t = 1, 8
    coef = np.zeros((1, p, N_THERMAL_FEATURES), np.float32)
    coef[0, 0, 1], coef[0, 0, 2] = 20.0, 1.0  # the type: ambient + 20 C x load
    stats = NormStats(None, None, coef, np.ones((1, p), np.float32))  # type: ignore[arg-type]

    def ctx(load: float, amb: float) -> np.ndarray:
        return np.tile(np.array([load, amb, 25.0, 1.0], np.float32), (1, t, 1))

    base_ctx = ctx(0.5, 20.0)
    base_x = np.asarray(thermal_design(jnp.asarray(base_ctx))).mean(1)  # (1, F)

    def window(load: float, amb: float, extra: float = 0.0) -> SimpleNamespace:
        return SimpleNamespace(
            asset_type=np.zeros(1, np.int32),
            thermal_ctx=ctx(load, amb),
            thermal_c=np.full((1, t, p), amb + 26.0 * load + extra, np.float32),  # 1.3x
            probe_mask=np.ones((1, p), bool),
            base_th_x=base_x,
            base_th_temp=np.array([[20.0 + 13.0]], np.float32),
        )

    np.testing.assert_allclose(np.asarray(asset_rise_scale(window(0.5, 20.0), stats)), 1.3)
    for load, amb in ((0.5, 20.0), (0.9, 20.0), (0.3, 30.0)):
        np.testing.assert_allclose(np.asarray(thermal_residual_own(window(load, amb), stats)),
                                   0.0, atol=1e-4)  # fmt: skip
    w = window(0.9, 20.0)
    offset_own = thermal_residual(w, stats) - asset_thermal_offset(w, stats)[:, None, :]
    np.testing.assert_allclose(np.asarray(offset_own), 2.4, atol=1e-4)  # (0.9 - 0.5) x 6 C
    hot = np.asarray(thermal_residual_own(window(0.9, 20.0, extra=3.0), stats))
    np.testing.assert_allclose(hot, 3.0, atol=1e-4)
    cold = window(0.5, 20.0)  # a probe barely above ambient tells no scale
    cold.base_th_temp = np.array([[21.0]], np.float32)
    np.testing.assert_allclose(np.asarray(asset_rise_scale(cold, stats)), 1.0)


def test_camera_reference_is_the_first_image_and_stopped_windows_are_skipped() -> None:
    rng = np.random.default_rng(2)
    base = AssetBaselines(CFG.inputs)
    ts = [0, 600 * 10**9, 1200 * 10**9, 1800 * 10**9, 2400 * 10**9, H, H + 600 * 10**9]
    r = _rows(len(ts), rng)
    r["image"][:] = (np.arange(len(ts)) * 10 + 50)[:, None, None, None].astype(np.uint8)
    r["vib"][:] = np.arange(len(ts))[:, None, None, None]
    r["thermal_ctx"][1, :, 3] = 0.0  # row 1: the machine is stopped
    reset = np.zeros(len(ts), bool)
    base.observe(["A"] * len(ts), ts, **r, reset=reset)
    rows = base.rows(["A"])
    assert rows.base_ready[0].all()
    np.testing.assert_array_equal(rows.base_image[0], 50)  # the first image, not a blur of all
    np.testing.assert_allclose(rows.base_vib[0], np.mean([0, 2, 3, 4]))  # row 1 left out
    # a maintenance row restarts the baseline in row order: rows after it build the new one
    again = AssetBaselines(CFG.inputs)
    reset[3] = True
    again.observe(["A"] * len(ts), ts, **r, reset=reset)
    assert not again.ready("A").any()  # 3 windows since the reset: not enough hours yet


def test_images_are_aligned_to_the_reference_before_their_change_is_read() -> None:
    from models.camera_features import align_to_reference

    rng = np.random.default_rng(3)
    ref = rng.random((2, 32, 32, 3)).astype(np.float32)
    moved = np.stack([np.roll(ref[0], (2, -3), (0, 1)), np.roll(ref[1], (-4, 1), (0, 1))])
    out = np.asarray(align_to_reference(jnp.asarray(moved + 0.1), jnp.asarray(ref)))
    np.testing.assert_allclose(out, ref, atol=1e-5)  # shift and brightness undone
    assert np.abs(moved - ref).mean() > 0.2


def _score(cfg: ModelConfig, batch) -> tuple[np.ndarray, dict]:
    model = FusionModel(cfg, nnx.Rngs(0))
    gd, st = nnx.split(model)

    @partial(jax.jit, compiler_options=FAST_COMPILE)
    def run(st, b):
        return nnx.merge(gd, st)(featurize(b, cfg))

    return run(st, batch)


@pytest.mark.parametrize("fusion", ["hybrid", "late", "early"])
def test_baseline_change_is_read_only_when_ready_and_every_fusion_scores(fusion: str) -> None:
    cfg = ModelConfig.model_validate({**TINY, "arch": {**TINY["arch"], "fusion": fusion}})
    rng = np.random.default_rng(1)
    b = empty_batch(cfg.inputs, 4)
    r = _rows(4, rng)
    b = b._replace(
        vibration=rng.normal(0, 1, b.vibration.shape).astype(np.float32),
        thermal_c=r["thermal_c"],
        probe_mask=r["probe_mask"],
        thermal_ctx=r["thermal_ctx"],
        image=r["image"],
        present=np.array([[1, 1, 1, 0]] * 4, bool),
    )
    # rows 0/1: baselines present but not ready (garbage in them); rows 2/3: ready
    ready = np.array([[0, 0, 0], [0, 0, 0], [1, 1, 1], [1, 1, 1]], bool)
    b = b._replace(
        base_vib=rng.normal(0, 5, b.base_vib.shape).astype(np.float32),
        base_th_temp=np.full(b.base_th_temp.shape, 30.0, np.float32),
        base_image=np.full(b.base_image.shape, 10, np.uint8),
        base_ready=ready,
    )
    cleared = b._replace(
        base_vib=np.zeros_like(b.base_vib),
        base_th_temp=np.zeros_like(b.base_th_temp),
        base_image=np.zeros_like(b.base_image),
    )
    score, aux = _score(cfg, b)
    score0, _ = _score(cfg, cleared)
    assert np.isfinite(np.asarray(score)).all()
    np.testing.assert_allclose(score[:2], score0[:2], rtol=1e-5, atol=1e-6)  # not ready: unread
    assert np.abs(np.asarray(score[2:] - score0[2:])).min() > 1e-6  # ready: the change counts
    gate = np.asarray(aux["gate"])
    if fusion != "hybrid":
        assert np.all(gate[:, -1] == 0)  # the mid-fusion logit takes no part


def test_image_change_removes_framing_and_lighting_but_keeps_every_camera_defect() -> None:
    """Inspection photographs of one healthy scene differ in framing, exposure, colour cast and a
    light gradient (plant.sim.camera); after image_change none of them reaches the change that
    any simulated defect at 40 % visibility leaves (cell means for stains, rust and heat tint,
    the share of changed pixels for a crack or a missing bolt)."""
    from models.camera_features import camera_ratio_indicators, image_change
    from plant.sim.camera import CameraScene

    kinds = ["crack", "leak_stain", "missing_bolt", "discolouration", "corrosion"]
    for seed in (0, 1):
        scene = CameraScene(64, seed, 3)
        rng = np.random.default_rng(seed)
        ref = scene.render([], rng)
        shots = [scene.render([], rng) for _ in range(12)]
        shots += [scene.render([(k, 1, 0.4)], rng) for k in kinds]
        x = jnp.asarray(np.stack(shots), jnp.float32) / 255.0
        r = jnp.broadcast_to(jnp.asarray(ref, jnp.float32) / 255.0, x.shape)
        ind = np.asarray(camera_ratio_indicators(x, image_change(x, r), jnp.ones(len(shots), bool)))
        cell, share = ind[:, 0], ind[:, 4]
        normal, defect = slice(0, 12), slice(12, None)
        # each defect stands out in one of the two, past every healthy photograph
        by_cell = cell[defect] > cell[normal].max() * 1.2
        beyond = by_cell | (share[defect] > share[normal].max() + 0.3)
        assert beyond.all(), (seed, cell, share)
    plain = np.asarray(image_change(x[:1], x[:1]))
    assert np.abs(plain).max() < 1e-3  # an image against itself: nothing changed
