"""Unit tests of the dashboard's data layer and figures (no browser, no Dash server)."""

from __future__ import annotations

import dataclasses
import os
from unittest import mock

import numpy as np
import pytest

from dashboard.auth import _safe_next, load_or_create_secret
from dashboard.data.actions import perform
from dashboard.data.alarm_views import Alarm, HealthView, alarm_from_api
from dashboard.data.evidence import amplitude_spectrum, max_pool
from dashboard.data.overview import build_overview, silent_sensors
from dashboard.evidence_panels import highlight
from dashboard.figures.explain import shapley_figure
from dashboard.figures.theme import ABNORMAL
from plant.alarms.engine import AlarmEngine
from plant.config import load_config
from plant.events import HealthEvent
from tests.test_dashboard_scenario import REPO

NS = 1_000_000_000
NOW = 1_800_000_000 * NS


@pytest.fixture(scope="module")
def plant():
    return load_config(REPO / "configs" / "plant.toml")


def health(asset: str, value: float, ts_ns: int = NOW) -> HealthView:
    return HealthView(asset, ts_ns, value, 0.5, "normal", {}, {})


def alarm(asset: str, priority: str, state: str = "unacknowledged", kind: str = "machine"):
    return Alarm("1", asset, "", state, priority, NOW - 60 * NS, "bearing_outer", kind)


def test_overview_puts_alarmed_then_least_healthy_assets_first(plant):
    hv = {a.id: health(a.id, 90.0) for a in plant.resolved_assets}
    hv["P-102"] = health("P-102", 20.0)
    ov = build_overview(
        plant.resolved_assets, {}, hv, [alarm("G-201", "low")], now_ns=NOW + 5 * NS, dead_letters=3
    )
    pump = next(b for b in ov.areas if b.area == "pumphouse")
    assert [t.asset for t in pump.tiles][:2] == ["G-201", "P-102"]
    assert pump.tiles[0].status == "p-low" and pump.tiles[1].status == "warn"
    assert ov.areas[0].area == "pumphouse"  # the area holding the worst tile comes first
    assert ov.counts_by_priority == {"critical": 0, "high": 0, "medium": 0, "low": 1}
    assert ov.data_health.score_age_s == pytest.approx(5.0)
    assert ov.data_health.dead_letters == 3


def test_acknowledged_alarms_still_count_but_shelved_ones_do_not(plant):
    alarms = [alarm("P-101", "high", "acknowledged"), alarm("P-102", "critical", "shelved")]
    ov = build_overview(plant.resolved_assets, {}, {}, alarms, now_ns=NOW, dead_letters=None)
    assert ov.counts_by_priority["high"] == 1 and ov.counts_by_priority["critical"] == 0
    tiles = {t.asset: t for b in ov.areas for t in b.tiles}
    assert tiles["P-101"].status == "p-high" and tiles["P-102"].status == "unknown"


def test_a_sensor_is_silent_after_its_periods_and_counts_from_ingest_start(plant):
    asset = plant.asset("P-101")
    seen = {f"P-101/{s.id}": NOW for s in asset.sensors}
    seen["P-101/temp"] = NOW - 31 * NS  # 10 s period, 3 periods allowed
    del seen["P-101/log"]  # never seen: notes every 4 h, ingest started 1 h ago
    out = silent_sensors(asset, seen, NOW, 3.0, since_ns=NOW - 3600 * NS)
    assert out == ["temp"]
    assert "log" in silent_sensors(asset, seen, NOW, 3.0, since_ns=NOW - 13 * 3600 * NS)


def test_max_pool_keeps_the_peaks_of_a_long_spectrum():
    freq, amp = amplitude_spectrum(np.sin(2 * np.pi * 157.0 * np.arange(12800) / 12800), 12800)
    f2, a2 = max_pool(freq, amp, 500)
    assert len(a2) <= 500
    assert f2[np.argmax(a2)] == pytest.approx(157.0, abs=1.0)
    assert a2.max() == pytest.approx(1.0, rel=0.02)  # a sinusoid of amplitude 1 reads 1


def test_note_drivers_are_marked_and_redactions_set_apart():
    spans = highlight("DE brg noisy, called [NAME] today", {"noisy", "brg"})
    marked = [s.children for s in spans if getattr(s, "className", "") == "driver"]
    redacted = [s.children for s in spans if getattr(s, "className", "") == "redacted"]
    assert marked == ["brg", "noisy,"] and redacted == ["[NAME]"]


def test_top_shapley_modality_is_the_only_coloured_bar():
    fig = shapley_figure({"vibration": 0.5, "thermal": 0.1, "camera": -0.1}, "t")
    colours = dict(zip(fig.data[0].y, fig.data[0].marker.color, strict=True))
    assert colours["vibration"] == ABNORMAL
    assert ABNORMAL not in (colours["thermal"], colours["camera"])


def test_alarm_view_reads_what_the_real_engine_serves(plant):
    engine = AlarmEngine(plant, None)
    for i in range(5):
        engine.on_health(
            HealthEvent(
                "P-101",
                NOW + i * 600 * NS,
                30.0,
                5.0,
                1e-5,
                "bearing_outer",
                0.9,
                {"vibration": True},
                {},
                "m1",
                explanation={"vibration": 0.7},
            )
        )
    doc = engine.list_alarms(asset="P-101")[0]
    a = alarm_from_api(engine.get_alarm(doc["id"]))
    assert (a.asset, a.area, a.fault_class, a.state) == (
        "P-101",
        "pumphouse",
        "bearing_outer",
        "unacknowledged",
    )
    assert a.active and a.explanation == {"vibration": 0.7}
    assert a.journal[0].action == "raise" and a.journal[0].user == "engine"
    engine.close()


def test_shelving_needs_a_reason_before_anything_is_sent():
    api = mock.Mock()
    ok, msg = perform(api, "tok", "7", "shelve", shelve_s=3600, text="  ")
    assert not ok and "reason" in msg
    api.shelve.assert_not_called()
    ok, _ = perform(api, "tok", "7", "shelve", shelve_s=3600, text="pump isolated")
    assert ok
    api.shelve.assert_called_once_with("tok", "7", 3600.0, "pump isolated")


def test_session_secret_is_created_0600_and_a_readable_one_refused(tmp_path):
    path = tmp_path / "d" / "secret"
    key = load_or_create_secret(path)
    assert len(key) >= 32 and (path.stat().st_mode & 0o777) == 0o600
    assert load_or_create_secret(path) == key
    os.chmod(path, 0o644)
    with pytest.raises(PermissionError, match="chmod 600"):
        load_or_create_secret(path)


@pytest.mark.parametrize(
    ("target", "safe"),
    [
        ("/alarms?priority=high", "/alarms?priority=high"),
        ("//evil.example", "/"),
        ("https://evil.example", "/"),
        ("/\\evil", "/"),
    ],
)
def test_login_redirects_only_to_local_paths(target, safe):
    assert _safe_next(target) == safe


def test_expected_temperature_is_the_active_models_normal_behaviour(tmp_path, plant):
    """A real model directory in a real registry: the dashboard reads its thermal model."""
    import jax
    from flax import nnx

    from dashboard.data.evidence import ThermalEvidence
    from dashboard.data.model_info import ModelInsight
    from models import registry
    from models.batch import ASSET_TYPES
    from models.checkpoint import save_model
    from models.config import ModelConfig
    from models.features import identity_stats
    from models.model import FusionModel

    cfg = ModelConfig.model_validate(  # a small model: the test is about the thermal stats
        {"inputs": {"order_bins": 16, "note_vocab": 256, "image_size": 16}, "arch": {"width": 8}}
    )
    stats = identity_stats(cfg.inputs, len(ASSET_TYPES))
    coef = np.zeros_like(stats.th_coef)
    k = ASSET_TYPES.index("motor-pump")
    coef[k, 0] = [30.0, 20.0, 0.5, 0.0, 5.0, 0.0]  # 30 + 20 load + 0.5 ambient + 5 running
    sigma = np.full_like(stats.th_sigma, 0.8)
    # zero weights from the model's abstract shape (eager init compiles op by op: ~45 s here)
    graphdef, state = nnx.split(nnx.eval_shape(lambda: FusionModel(cfg, nnx.Rngs(0))))
    model = nnx.merge(graphdef, jax.tree.map(lambda x: np.zeros(x.shape, x.dtype), state))
    model.set_stats(stats._replace(th_coef=coef, th_sigma=sigma))
    insight = ModelInsight(tmp_path)
    asset = plant.asset("P-101")
    th = ThermalEvidence(
        np.array([0, 1]),
        ("bearing_de",),
        np.array([[50.0], [60.0]]),
        np.array([[0.5, 20.0, 24.0, 1.0], [1.0, 10.0, 24.0, 0.0]]),
    )
    assert insight.expected_temperature_c(asset, th) is None  # nothing active yet
    version = registry.new_version_dir(tmp_path)
    save_model(model, cfg, version)
    registry.promote(tmp_path, version.name)
    expected = insight.expected_temperature_c(asset, th)
    np.testing.assert_allclose(expected[:, 0], [30 + 10 + 10 + 5, 30 + 20 + 5], rtol=1e-5)
    assert insight.residual_limit_c(asset, 0) == pytest.approx(2.4, rel=1e-5)
    # the asset's own offset (its baseline's mean residual) is added only once it is ready
    from dashboard.data.model_info import ThermalOffset

    off = ThermalOffset(True, np.array([1.5, 0.0]), np.array([1.2, 0.0]), 0, 1, 6)
    with_offset = insight.expected_temperature_c(asset, th, off)
    np.testing.assert_allclose(with_offset[:, 0], expected[:, 0] + 1.2, rtol=1e-6)
    not_ready = dataclasses.replace(off, ready=False)
    np.testing.assert_allclose(insight.expected_temperature_c(asset, th, not_ready), expected)
    assert "offset" in off.describe() and "not ready" in not_ready.describe()

    # serve's saved live baselines (models/serving/state.py) are the offset's first source:
    # P-101 ran 5 degC below its type's model over its baseline hours -> offset -5 degC
    from models.baseline import AssetBaselines
    from models.serving.state import BaselineFile

    inp = cfg.inputs
    n = int(inp.baseline_hours * 3600 / inp.baseline_spacing_s) + 2
    t, k_img, c = inp.thermal_points, inp.image_size, inp.vibration_channels
    ctx = np.tile(np.array([0.5, 20.0, 24.0, 1.0], np.float32), (n, t, 1))  # expected 55
    temps = np.full((n, t, inp.thermal_probes), 50.0, np.float32)
    mask = np.zeros((n, inp.thermal_probes), bool)
    mask[:, 0] = True
    present = np.zeros((n, 4), bool)
    present[:, 1] = True
    live = AssetBaselines(inp)
    ts = (np.arange(n) * inp.baseline_spacing_s * 1e9).astype(np.int64)
    vib = np.zeros((n, c, 3, inp.order_bins), np.float32)
    image = np.zeros((n, k_img, k_img, 3), np.uint8)
    live.observe(["P-101"] * n, ts, vib, temps, mask, ctx, image, present)
    state = tmp_path / "serve"
    BaselineFile(state).save(live)
    served = ModelInsight(tmp_path, serve_state_dir=state)
    reader = mock.Mock(root=tmp_path / "store")  # not read: serve's file answers
    got = served.thermal_offset(plant, reader, asset)
    assert got.ready and got.source == "serve's live baselines" and got.windows >= 6
    assert got.offset_c[0] == pytest.approx(-5.0, abs=1e-4)
    assert got.offset_sigma[0] == pytest.approx(-5.0 / 0.8, abs=1e-4)
    reader.read.assert_not_called()
    live.reset("P-101")  # maintenance ended: serve restarts the baseline, saves again
    BaselineFile(state).save(live)
    os.utime(BaselineFile(state).path(inp), ns=(1, 10**18))  # a new stamp, whatever the clock
    again = served.thermal_offset(plant, reader, asset)
    assert not again.ready and again.source == "serve's live baselines"


CONTRACT_EXPLANATION = {
    "shapley": {"vibration": 0.5, "thermal": 0.2, "camera": 0.0, "notes": -0.05},
    "base": 0.1,
    "score": 0.75,
    "primary": "vibration",
    "evidence": {
        "vibration": {
            "bands": [
                {"hz": 40.0, "order": 1.6, "weight": 0.1, "label": "1x"},
                {"hz": 89.5, "order": 3.6, "weight": 0.6, "label": "BPFO"},
            ],
            "peak_hz": 89.5,
            "peak_label": "BPFO",
        },
        "thermal": {"ts_ns": [1, 2, 3], "residual_c": [0.1, 0.5, 2.0], "weight": [0, 0.1, 0.9]},
        "camera": {"grid": [2, 3], "saliency": [0, 0.2, 1.5, 0.1, 0.0, 0.3]},
        "notes": {"tokens": [{"text": "noisy", "weight": 0.4}, {"text": "ok", "weight": -0.1},
                             {"text": "call john.smith@example.com", "weight": 0.2}]},
    },
}  # fmt: skip


def test_contract_explanation_is_read_with_its_evidence():
    from dashboard.data.explanation import parse_explanation

    assert parse_explanation({**CONTRACT_EXPLANATION, "ts_ns": 3}, "alarm 7", 5).ts_ns == 3
    e = parse_explanation(CONTRACT_EXPLANATION, "alarm 7", 5)
    assert e.shapley == {"vibration": 0.5, "thermal": 0.2, "camera": 0.0, "notes": -0.05}
    assert e.consistent is True and e.primary == "vibration" and e.ts_ns == 5
    assert [b.label for b in e.bands] == ["BPFO", "1x"]  # strongest first
    assert e.saliency.shape == (2, 3) and e.saliency.max() == 1.0  # clipped to 0..1
    assert e.thermal.residual_c.tolist() == [0.1, 0.5, 2.0]
    assert e.driving_tokens() == {"noisy": 0.4, "call [email]": 0.2}  # redacted again, up only
    broken = dict(CONTRACT_EXPLANATION, score=0.9)
    assert parse_explanation(broken).consistent is False


def test_older_flat_explanation_is_read_without_evidence():
    from dashboard.data.explanation import parse_explanation

    e = parse_explanation({"vibration": 0.6, "notes": 0.1})
    assert e.shapley == {"vibration": 0.6, "thermal": 0.0, "camera": 0.0, "notes": 0.1}
    assert e.bands == () and e.saliency is None and e.consistent is None


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"shapley": {"vibration": "high"}}, "shapley.vibration"),
        ({"shapley": {"smell": 0.1}}, "unknown modalities"),
        ({"evidence": {"camera": {"grid": [2, 2], "saliency": [0.1]}}}, "grid 2x2 needs 4"),
        ({"evidence": {"thermal": {"ts_ns": [1], "residual_c": [1, 2]}}}, "differ in length"),
        ({"evidence": {"notes": {"tokens": [{"weight": 1}]}}}, "tokens[0]"),
        ({"primary": "sound"}, "primary"),
    ],
)
def test_a_malformed_explanation_is_refused_with_the_key(change, key):
    from dashboard.data.explanation import safe_parse

    expl, problem = safe_parse({**CONTRACT_EXPLANATION, **change}, "serve")
    assert expl is None and key in problem and "serve" in problem


def test_asset_explanation_falls_back_to_the_newest_explained_alarm():
    from dashboard.data.alarms_api import ApiError
    from dashboard.data.explanation import latest_for_asset

    api = mock.Mock()
    api.asset_explanation.return_value = None  # serve has none (or no such route: 404)
    old = dataclasses.replace(alarm("P-101", "low"), id="1", explanation={"thermal": 0.3})
    new = dataclasses.replace(
        alarm("P-101", "high"), id="2", raised_ns=NOW, explanation=CONTRACT_EXPLANATION
    )
    expl, problem = latest_for_asset(api, "t", "P-101", [old, new])
    assert expl.source == "alarm 2" and problem == ""
    api.asset_explanation.side_effect = ApiError(0, "unreachable")
    expl, problem = latest_for_asset(api, "t", "P-101", [old])
    assert expl.source == "alarm 1" and "unreachable" in problem


def test_alarm_page_uses_the_alarms_own_evidence_else_serves_latest_said_so():
    from dashboard.data.alarms_api import ApiError
    from dashboard.data.explanation import for_alarm_page

    api = mock.Mock()
    latest = {**CONTRACT_EXPLANATION, "primary": "thermal"}
    api.asset_explanation.return_value = (latest, NOW - 60 * 10**9)
    own = dataclasses.replace(alarm("P-101", "high"), id="7", explanation=CONTRACT_EXPLANATION)
    expl, problem = for_alarm_page(api, "t", own)
    assert expl.source == "alarm 7" and expl.primary == "vibration" and problem == ""
    api.asset_explanation.assert_not_called()  # its own window's evidence: nothing else asked
    for kept in ({"vibration": 0.5, "thermal": 0.1}, None):  # flat Shapley only, or nothing
        bare = dataclasses.replace(own, explanation=kept)
        expl, problem = for_alarm_page(api, "t", bare)
        assert expl.source == "plantwatch serve (latest window)" and expl.primary == "thermal"
        assert expl.evidence_of == {"vibration", "thermal", "camera", "notes"}
        assert "not from the window that raised the alarm" in problem
    api.asset_explanation.side_effect = ApiError(0, "unreachable")
    flat = dataclasses.replace(own, explanation={"vibration": 0.5})
    expl, problem = for_alarm_page(api, "t", flat)
    assert expl.source == "alarm 7" and not expl.evidence_of and "unreachable" in problem


def test_psi_is_zero_for_the_reference_and_large_for_a_shift():
    from dashboard.data.drift import psi, reference_bins

    rng = np.random.default_rng(0)
    ref = reference_bins(rng.normal(size=5000))
    assert psi(ref, rng.normal(size=5000)) < 0.01
    assert 0.1 < psi(ref, rng.normal(0.4, 1, size=5000)) < 0.25  # ~ shift^2: "moderate"
    assert psi(ref, rng.normal(2.0, 1, size=5000)) > 0.25
    words = reference_bins(np.repeat([3.0, 4.0, 5.0], [300, 500, 200]))  # discrete, tied deciles
    assert psi(words, np.repeat([3.0, 4.0, 5.0], [30, 50, 20])) < 1e-9


def test_conformal_thresholds_match_the_calibrations_p_values(tmp_path):
    from dashboard.data.model_page import calibration_groups, evaluation_rows
    from models.calibration import Calibration

    scores = np.random.default_rng(1).gamma(2.0, size=2000)
    cal = Calibration.fit(scores, ["fan|VTCN"] * 2000, min_count=10)
    cal.save(tmp_path)
    group = next(g for g in calibration_groups(tmp_path) if g.group == "fan|VTCN")
    for alpha, thr in group.thresholds.items():
        above = cal.p_values(np.array([thr + 1e-9, np.nextafter(thr, -np.inf)]), ["fan|VTCN"] * 2)
        assert above[0] < alpha <= above[1]
    rows = {r.figure: r for r in evaluation_rows({"auroc": {"fused": 0.98, "vibration": 0.97},
                                                  "false_alarms_per_asset_day": 0.02})}  # fmt: skip
    assert rows["AUROC fused"].met is False and rows["false alarms per asset-day"].met is False


def test_shared_cache_serves_a_stale_value_while_one_thread_refreshes_it():
    import threading
    import time as _time

    from dashboard.context import DashboardContext

    ctx = DashboardContext(None, None, None, None, None)
    calls: list[int] = []
    release = threading.Event()

    def compute() -> int:
        calls.append(1)
        if len(calls) > 1:
            release.wait(5)
        return len(calls)

    assert ctx.cached("k", 0.05, compute, stale_s=10) == 1
    _time.sleep(0.06)
    assert ctx.cached("k", 0.05, compute, stale_s=10) == 1  # stale: returned at once
    assert ctx.cached("k", 0.05, compute, stale_s=10) == 1  # one refresh in flight, not two
    release.set()
    deadline = _time.monotonic() + 5
    while ctx.cached("k", 60, compute) != 2 and _time.monotonic() < deadline:
        _time.sleep(0.01)
    assert len(calls) == 2


def test_the_real_explainers_output_is_what_the_pages_draw():
    """Contract #2 end to end: EV's Explainer (models/explain.py) on a small model with random
    weights (the shape of the output is under test, not its quality; training one costs minutes
    here), through JSON as the API serves it, read and drawn by the dashboard."""
    import json

    import jax
    from flax import nnx

    from dashboard.data.explanation import parse_explanation
    from dashboard.figures.camera import image_figure
    from dashboard.figures.thermal import residual_figure
    from dashboard.figures.vibration import spectrum_figure
    from dashboard.shapley_panel import shapley_panel
    from models.batch import ASSET_TYPES
    from models.explain import Explainer
    from models.features import identity_stats
    from models.model import FusionModel
    from models.scoring import Scorer
    from plant.labels import FaultClass
    from tests.explain_helpers import BEARING, T0, TINY, make_window

    rng = np.random.default_rng(0)

    def weights(x):
        if np.issubdtype(x.dtype, np.floating):
            return (0.1 * rng.standard_normal(x.shape)).astype(x.dtype)
        return np.zeros(x.shape, x.dtype)

    graphdef, state = nnx.split(nnx.eval_shape(lambda: FusionModel(TINY, nnx.Rngs(0))))
    model = nnx.merge(graphdef, jax.tree.map(weights, state))
    stats = identity_stats(TINY.inputs, len(ASSET_TYPES))
    # random params; a "normal" spectrum far below the window's, so its bands stand out
    model.set_stats(stats._replace(vib_mean=np.full_like(stats.vib_mean, -20.0)))
    scorer = Scorer(model, TINY, "random")
    w = make_window(np.random.default_rng(7), "PA-000", T0, FaultClass.BEARING_OUTER)
    doc = Explainer(scorer).explain(w, bearing=BEARING, shaft_hz=w.context.shaft_speed_hz)
    e = parse_explanation(json.loads(json.dumps(doc)), "serve")
    assert e.consistent is True and e.primary in e.shapley
    assert e.evidence_of == {"vibration", "thermal", "camera", "notes"}
    assert e.bands and all(b.hz > 0 for b in e.bands)
    assert e.saliency is not None and e.saliency.shape == tuple(doc["evidence"]["camera"]["grid"])
    assert e.thermal is not None and e.thermal.ts_ns.size > 0 and e.tokens
    freq = np.linspace(0, 500, 501)
    bands = [(b.hz, b.weight, b.label) for b in e.bands]
    fig = spectrum_figure(freq, np.ones_like(freq), {}, "t", bands=bands)
    assert fig.data[-1].name == "model attribution"
    assert len(image_figure(w.camera.pixels, e.saliency, "t").data) == 2  # image + saliency
    a = e.thermal
    assert residual_figure(a.ts_ns, a.residual_c, a.weight, "t").data[0].type == "bar"
    assert shapley_panel(e, "k").to_plotly_json()["props"]["data-primary"] == e.primary


def test_residual_bars_are_coloured_by_attribution_with_numeric_opacities():
    from dashboard.figures.theme import MUTED
    from dashboard.figures.thermal import residual_figure

    ts = np.arange(4) * 10**9
    fig = residual_figure(ts, np.array([0.1, 0.5, 2.0, 1.0]), np.array([0, 0.02, 1.0, 0.5]), "t")
    plain, hot = fig.data
    assert plain.marker.color == MUTED and list(plain.y) == [0.1, 0.5]  # share <= 0.05: plain
    assert hot.marker.color == ABNORMAL and list(hot.y) == [2.0, 1.0]
    np.testing.assert_allclose(hot.marker.opacity, [1.0, 0.625])  # 0.25 + 0.75 x share
    assert fig.layout.barmode == "overlay"
    (only,) = residual_figure(ts, np.ones(4), None, "t").data  # no attribution: all plain
    assert only.marker.color == MUTED and len(only.y) == 4
