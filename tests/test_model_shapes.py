"""The model's batch, features and forward pass: shapes, masks, no NaN, missing modalities."""

from __future__ import annotations

import numpy as np
import pytest
from flax import nnx

from ingest.window import ThermalSeries, Window
from models.batch import Batch, make_batch, pad_batch
from models.config import ModelConfig
from models.features import vibration_features
from models.model import MODALITY_NAMES, FusionModel, featurize
from models.notes_text import encode_notes, normalise
from plant.readings import (
    CameraImage,
    ContextReading,
    Header,
    MachineState,
    Modality,
    OperatorNote,
    VibrationSnapshot,
)

T0 = 1_780_000_000 * 10**9
SMALL = ModelConfig.model_validate(
    {"inputs": {"vibration_samples": 2048, "order_bins": 64, "note_tokens": 32, "image_size": 32}}
)


def make_window(
    rng: np.random.Generator,
    *,
    fault: bool = False,
    asset: str = "PA-001",
    present: tuple[bool, bool, bool, bool] = (True, True, True, True),
    fs: float = 12_800.0,
    n: int = 2048,
    speed_hz: float = 24.5,
) -> Window:
    """A hand-built window; a fault adds bearing impacts, heat, a dark spot and a worried note."""
    h = Header(asset, "s", T0, 1, 0)
    t = np.arange(n) / fs
    x = 0.3 * np.sin(2 * np.pi * speed_hz * t) + 0.05 * rng.normal(size=(3, n))
    if fault:
        x += (1 + np.cos(2 * np.pi * 3.58 * speed_hz * t)) * 0.4 * np.sin(2 * np.pi * 3000 * t)
    vib = VibrationSnapshot(h, fs, ("x", "y", "z"), x.astype(np.float32))
    k = 32
    temp = 40 + rng.normal(0, 0.3, (k, 3)) + (np.linspace(0, 8, k)[:, None] if fault else 0)
    thermal = ThermalSeries(
        ts_ns=T0 - np.arange(k)[::-1].astype(np.int64) * 10**10,
        channels=("a", "b", "c"),
        temperature_c=temp.astype(np.float32),
        load_fraction=np.full(k, 0.8, np.float32),
        ambient_c=np.full(k, 22.0, np.float32),
        shaft_speed_hz=np.full(k, speed_hz, np.float32),
        running=np.ones(k, bool),
    )
    img = rng.integers(100, 160, (32, 32, 3)).astype(np.uint8)
    if fault:
        img[10:18, 10:18] = 20
    text = "DE brg noisy, hot" if fault else "rounds ok no issues"
    return Window(
        asset=asset,
        asset_type="motor-pump",
        ts_ns=T0,
        vibration=vib if present[0] else None,
        thermal=thermal if present[1] else None,
        camera=CameraImage(h, img) if present[2] else None,
        notes=(OperatorNote(h, text),) if present[3] else (),
        context=ContextReading(h, speed_hz, 0.8, 22.0, MachineState.RUNNING),
        staleness_s={m: 0.0 for m in Modality if m is not Modality.CONTEXT},
    )


B = 4  # every forward below uses one batch shape: one compilation


@pytest.fixture(scope="module")
def model() -> FusionModel:
    return FusionModel(SMALL, nnx.Rngs(0))


@nnx.jit
def forward(model: FusionModel, b: Batch, present: np.ndarray):
    return model(featurize(b, SMALL), present)


def batch_of(windows: list[Window]) -> Batch:
    return make_batch(windows, SMALL.inputs, size=B)


def test_batch_has_fixed_shapes_and_presence_mask() -> None:
    rng = np.random.default_rng(0)
    wins = [make_window(rng), make_window(rng, present=(False, True, False, True))]
    b = make_batch(wins, SMALL.inputs, size=4)
    assert b.vibration.shape == (4, 3, 2048)
    assert b.image.shape == (4, 32, 32, 3) and b.note_ids.shape == (4, 32)
    assert b.present.tolist() == [
        [True, True, True, True],
        [False, True, False, True],
        [False] * 4,
        [False] * 4,
    ]
    assert not b.vibration[1].any() and not b.image[1].any()  # absent: masked, not filled


def test_order_axis_puts_a_defect_at_the_same_order_at_any_rate_and_speed() -> None:
    cfg = SMALL.inputs.model_copy(update={"vibration_samples": 8192})
    order_step = cfg.max_order / cfg.order_bins
    for fs, speed in [(12_800.0, 24.5), (25_600.0, 49.0), (48_000.0, 29.0)]:
        rng = np.random.default_rng(1)
        w = make_window(rng, fault=True, fs=fs, speed_hz=speed, n=8192)
        b = make_batch([w], cfg)
        env = np.asarray(vibration_features(b, cfg))[0, 0, 1]  # envelope order spectrum
        peak = (np.argmax(env[8:]) + 8) * order_step
        assert abs(peak - 3.58) <= order_step, (fs, speed, peak)


def test_forward_returns_score_and_aux_without_nan(model: FusionModel) -> None:
    rng = np.random.default_rng(2)
    wins = [make_window(rng, fault=i % 2 == 0) for i in range(2)]
    b = pad_batch(make_batch(wins, SMALL.inputs), B)  # padded rows have nothing present
    score, aux = forward(model, b, b.present)
    assert score.shape == (B,) and np.isfinite(np.asarray(score)).all()
    assert aux["late_scores"].shape == (B, 4) and aux["gate"].shape == (B, 5)
    assert aux["fault_logits"].shape == (B, 15)
    assert set(aux["tokens"]) == set(MODALITY_NAMES)
    gate = np.asarray(aux["gate"])
    assert np.all((gate[:2] > 0) & (gate[:2] < 2))  # noisy-OR exponents of present ones
    assert np.all(gate[2:, :4] == 0)  # absent modalities get no weight


def test_noisy_or_adds_evidence_and_a_blind_modality_costs_nothing() -> None:
    """The fused logit is the noisy-OR of the gated late logits: stable at both ends, it rises
    with every modality's evidence, and a modality that sees nothing (a very negative late
    logit) leaves the score where it was instead of averaging it down."""
    import jax.numpy as jnp

    from models.fusion import or_logit

    t = jnp.asarray([1e-9, 1e-3, 0.5, 1.0, 3.0, 80.0])
    np.testing.assert_allclose(np.asarray(or_logit(t)), np.log(np.expm1(np.float64(t))), rtol=1e-4)
    sp = lambda x: np.log1p(np.exp(x))  # noqa: E731
    one = float(or_logit(jnp.asarray(sp(-4.0) + sp(3.0))))
    with_blind = float(or_logit(jnp.asarray(sp(-4.0) + sp(3.0) + sp(-30.0))))
    with_two = float(or_logit(jnp.asarray(sp(-4.0) + sp(3.0) + sp(2.0))))
    assert abs(with_blind - one) < 1e-6 and with_two > one + 0.1
    assert one >= 3.0  # at least as sure as the surest modality


def test_indicator_detector_is_monotone_in_every_indicator() -> None:
    """Raising any standardised indicator never lowers the detector's logit; falls below normal
    (negative deviations) change nothing."""
    import jax.numpy as jnp

    from models.encoders import IndicatorDetector

    det = IndicatorDetector(5, 3, nnx.Rngs(0))
    det.raw_weight[...] = jnp.asarray([-3.0, 0.0, 2.0, -8.0, 1.0])
    rng = np.random.default_rng(0)
    z = jnp.asarray(rng.normal(size=(64, 5)), jnp.float32)
    t = jnp.zeros(64, jnp.int32)
    base = np.asarray(det(z, t))
    for j in range(5):
        up = np.asarray(det(z.at[:, j].add(0.7), t))
        assert np.all(up >= base - 1e-6)
    low = np.asarray(det(jnp.minimum(z, 0.0) - 1.0, t))
    np.testing.assert_allclose(low, np.asarray(det(jnp.zeros_like(z), t)), atol=1e-6)


def test_a_missing_modality_changes_only_its_own_tokens(model: FusionModel) -> None:
    rng = np.random.default_rng(3)
    full = batch_of([make_window(rng, fault=True)])
    score_full, aux_full = forward(model, full, full.present)
    for m, name in enumerate(MODALITY_NAMES):
        present = full.present.copy()
        present[0, m] = False
        score, aux = forward(model, full, present)
        assert np.isfinite(float(score[0]))
        assert float(aux["gate"][0, m]) == 0.0
        for other in MODALITY_NAMES:
            if other != name:
                np.testing.assert_array_equal(aux["tokens"][other], aux_full["tokens"][other])
        assert float(score[0]) != float(score_full[0])


def test_absent_slot_contents_never_reach_the_score(model: FusionModel) -> None:
    rng = np.random.default_rng(4)
    b = batch_of([make_window(rng, present=(False, True, True, True))])
    garbage = b._replace(vibration=rng.normal(size=b.vibration.shape).astype(np.float32))
    s1, _ = forward(model, b, b.present)
    s2, _ = forward(model, garbage, garbage.present)
    assert float(s1[0]) == float(s2[0])


def test_all_modalities_missing_still_scores(model: FusionModel) -> None:
    b = batch_of([])
    score, _ = forward(model, b, b.present)
    assert np.isfinite(np.asarray(score)).all()


def test_notes_normaliser_expands_maintenance_abbreviations() -> None:
    assert normalise("DE brg u/s, c/o pmp") == [
        "drive",
        "end",
        "bearing",
        "unserviceable",
        "change",
        "out",
        "pump",
    ]
    a = encode_notes(["brg noisy"], 16, 4096)
    b = encode_notes(["bearing noisy"], 16, 4096)
    np.testing.assert_array_equal(a, b)
    assert (a > 0).sum() > 0 and a.max() < 4096


def test_notes_normaliser_masks_equipment_tags_but_keeps_readings() -> None:
    """A tag says which asset a note is about (the topic says that already); a model must learn
    what was written, not which assets were faulty: two notes differing only in the tag encode
    alike, and readings such as "50C" or "500HR" are kept."""
    assert normalise("PB-003 CHK DE BRG TEMP OK 50C")[0] == "<tag>"
    assert "50c" in normalise("PB-003 CHK DE BRG TEMP OK 50C")
    assert normalise("GB-007 500HR SVCE") == ["<tag>", "500hr", "service"]
    a = encode_notes(["PB-003 brg noisy"], 32, 4096)
    b = encode_notes(["FN-112 brg noisy"], 32, 4096)
    np.testing.assert_array_equal(a, b)


def test_calibration_scores_every_presence_pattern_as_live_scoring_would(
    model: FusionModel, tmp_path, request
) -> None:
    """calibrate_dataset's pattern references: each window scored with each subset of its present
    modalities equals a forward pass with the others missing, and each (window, subset) counts
    once in that pattern's group (models/calibration.py)."""
    from models.calibration import Calibration, calibrate_dataset, presence_masks
    from models.dataset import build_dataset
    from models.validation import predict, predict_patterns, set_fast_compile

    set_fast_compile(True)  # compile time dominates at this size (as in small trainings)
    request.addfinalizer(lambda: set_fast_compile(False))
    rng = np.random.default_rng(5)
    kinds = [(True, True, True, True), (True, True, True, False), (False, True, False, True)]
    wins = [make_window(rng, present=kinds[i % 3]) for i in range(12)]
    ds = build_dataset(wins, [], SMALL)
    gd, st = nnx.split(model)
    masks = presence_masks()
    assert masks.shape == (15, 4) and len({tuple(m) for m in masks}) == 15
    got = predict_patterns(gd, st, ds, masks)
    present = np.asarray(ds.features.present)
    for k in (0, 6, 14):
        want = predict(gd, st, ds, present & masks[k])[0]
        np.testing.assert_allclose(got[k], want, rtol=1e-4, atol=1e-4)
    cal = calibrate_dataset(gd, st, ds, tmp_path, min_count=1)
    counts = Calibration.load(tmp_path).counts()
    assert counts == cal.counts()
    assert cal.observed is not None and len(cal.observed) == 12  # each window as it is
    own = next(k for k, m in enumerate(masks) if tuple(m) == kinds[1])
    np.testing.assert_allclose(cal.observed[1], got[own, 1], rtol=1e-6)
    assert counts["motor-pump|VTCN"] == 4  # only the complete windows
    assert counts["motor-pump|VTC-"] == 8  # their own pattern (4) + the complete ones' (4)
    assert counts["motor-pump|-T-N"] == 8  # 4 of their own + the complete ones masked
    assert counts["motor-pump|-T--"] == 12  # every window has thermal
    assert counts["motor-pump|*"] == sum(
        v for g, v in counts.items() if g.startswith("motor-pump|") and g != "motor-pump|*"
    )
