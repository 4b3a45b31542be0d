"""Conformal calibration: realised false-alarm rate, groups and fallback, files without pickle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from models.calibration import (
    Calibration,
    calibration_group,
    clopper_pearson,
    fallback_chain,
    realised_alpha,
)


def _normal_scores(rng: np.random.Generator, group: str, n: int) -> np.ndarray:
    """Per-group score distributions that differ (location and shape), like a real model's."""
    if group.endswith("VTCN"):
        return rng.normal(-3.0, 1.0, n)
    if group.startswith("fan"):
        return rng.gumbel(-1.0, 0.5, n)
    return rng.standard_t(4, n) * 0.7 - 2.0


GROUPS = ["motor-pump|VTCN", "motor-pump|VTC-", "fan|VT--"]


@pytest.mark.parametrize("alpha", [1e-2, 1e-3])
def test_realised_false_alarm_rate_on_fresh_normal_windows(alpha: float) -> None:
    rng = np.random.default_rng(11)
    cal_s, cal_g, fresh_s, fresh_g = [], [], [], []
    for g in GROUPS:
        cal_s.append(_normal_scores(rng, g, 40_000))
        cal_g += [g] * 40_000
        fresh_s.append(_normal_scores(rng, g, 100_000))
        fresh_g += [g] * 100_000
    cal = Calibration.fit(np.concatenate(cal_s), cal_g)
    p = cal.p_values(np.concatenate(fresh_s), fresh_g)
    r = realised_alpha(p, alpha)
    assert r["windows"] == 300_000
    assert 0.5 * alpha <= r["value"] <= 1.5 * alpha, r
    lo, hi = r["ci95"]
    assert 0.5 * alpha <= lo <= r["value"] <= hi <= 1.5 * alpha, r
    # per group too: a pooled threshold would be off by orders of magnitude in some groups
    for i, g in enumerate(GROUPS):
        rate = float(np.mean(p[i * 100_000 : (i + 1) * 100_000] < alpha))
        assert 0.5 * alpha <= rate <= 1.5 * alpha, (g, rate)


def test_a_pooled_reference_would_fail_per_group() -> None:
    """The check above can fail: ignoring groups gives wrong rates per group."""
    rng = np.random.default_rng(2)
    s = {g: _normal_scores(rng, g, 20_000) for g in GROUPS}
    pooled = Calibration.fit(np.concatenate(list(s.values())), ["x|VTCN"] * 60_000)
    rates = [float(np.mean(pooled.p_values(s[g], ["x|VTCN"] * 20_000) < 0.01)) for g in GROUPS]
    assert min(rates) < 0.005 or max(rates) > 0.015


def test_p_values_are_conformal_ranks() -> None:
    cal = Calibration.fit(np.arange(9.0), ["pump|V---"] * 9, min_count=1)
    p = cal.p_values(np.array([100.0, 8.0, 7.5, -1.0]), ["pump|V---"] * 4)
    np.testing.assert_allclose(p, [1 / 10, 2 / 10, 2 / 10, 1.0])


def test_group_names_and_fallback_to_coarser_groups() -> None:
    assert calibration_group("motor-pump", [True, True, True, False]) == "motor-pump|VTC-"
    assert fallback_chain("fan|V-C-") == ["fan|V-C-", "*|V-C-", "fan|*", "*|*"]
    with pytest.raises(ValueError):
        calibration_group("fan", [True, True])
    rng = np.random.default_rng(0)
    scores = np.concatenate([rng.normal(0, 1, 500), rng.normal(5, 1, 20), rng.normal(9, 1, 300)])
    groups = ["pump|VTCN"] * 500 + ["fan|VTCN"] * 20 + ["fan|VT--"] * 300
    cal = Calibration.fit(scores, groups, min_count=100)
    assert cal.resolve("pump|VTCN") == "pump|VTCN"
    assert cal.resolve("fan|VTCN") == "*|VTCN"  # 20 < 100: same modalities, any type
    assert cal.resolve("fan|V-C-") == "fan|*"  # never seen: same type, any modalities
    assert cal.resolve("gearbox|-T--") == "*|*"
    assert cal.counts()["*|VTCN"] == 520 and cal.counts()["*|*"] == 820


def test_save_load_round_trip_without_pickle(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    cal = Calibration.fit(rng.normal(size=400), ["pump|VTCN"] * 300 + ["fan|V---"] * 100)
    d = cal.save(tmp_path)
    assert sorted(p.name for p in d.iterdir()) == ["calibration.json", "scores.npz"]
    doc = json.loads((d / "calibration.json").read_text())
    assert doc["groups"]["pump|VTCN"]["count"] == 300
    again = Calibration.load(tmp_path)
    s = rng.normal(size=50)
    g = ["pump|VTCN"] * 25 + ["fan|V---"] * 25
    np.testing.assert_array_equal(cal.p_values(s, g), again.p_values(s, g))
    with np.load(d / "scores.npz", allow_pickle=False) as z:
        assert z["scores"].dtype == np.float64


def test_clopper_pearson_matches_known_values() -> None:
    lo, hi = clopper_pearson(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.30850, abs=1e-4)
    lo, hi = clopper_pearson(5, 10)
    assert lo == pytest.approx(0.18709, abs=1e-4) and hi == pytest.approx(0.81291, abs=1e-4)


def test_calibration_rows_are_baseline_ready_for_present_modalities() -> None:
    from types import SimpleNamespace

    from models.calibration import baseline_ready_rows

    present = np.array([[1, 1, 1, 0], [1, 1, 0, 0], [1, 0, 0, 1], [0, 0, 0, 1]], bool)
    ready = np.array([[1, 1, 1], [1, 1, 0], [0, 1, 1], [0, 0, 0]], bool)
    rows = baseline_ready_rows(SimpleNamespace(present=present, base_ready=ready))
    np.testing.assert_array_equal(rows, [True, True, False, True])
    assert baseline_ready_rows(SimpleNamespace(present=present)).all()


def test_windows_before_the_baselines_froze_have_their_own_reference() -> None:
    """Judged against the fleet only, a new asset's windows score wider: they are calibrated
    against other assets' first hours ("|nobase" groups, their own fallback chain), never
    against the ready windows', and an old calibration without them resolves them as ready."""
    assert calibration_group("fan", [True, False, True, False], ready=False) == "fan|V-C-|nobase"
    assert fallback_chain("fan|V-C-|nobase") == [
        "fan|V-C-|nobase", "*|V-C-|nobase", "fan|*|nobase", "*|*|nobase"
    ]  # fmt: skip
    rng = np.random.default_rng(1)
    ready = rng.normal(0, 1, 2000)
    first_hours = rng.normal(1.5, 1.5, 300)  # the spread between assets widens them
    cal = Calibration.fit(np.concatenate([ready, first_hours]),
                          ["pump|VTCN"] * 2000 + ["pump|VTCN|nobase"] * 300)  # fmt: skip
    assert cal.resolve("pump|VTCN|nobase") == "pump|VTCN|nobase"
    assert cal.resolve("fan|VTCN|nobase") == "*|VTCN|nobase"  # never the ready windows'
    fresh = rng.normal(1.5, 1.5, 20_000)  # new assets' first hours
    for groups, want in ((["pump|VTCN|nobase"], 0.01), (["pump|VTCN"], 0.1)):
        low = float((cal.p_values(fresh, groups * len(fresh)) < 0.01).mean())
        assert (low < 2 * 0.01) == (want == 0.01), low  # the ready reference: far too many
    old = Calibration.fit(ready, ["pump|VTCN"] * 2000)  # calibrated before nobase groups
    assert old.resolve("pump|VTCN|nobase") == "pump|VTCN"


def test_calibrate_dataset_puts_first_hours_in_nobase_groups(tmp_path: Path) -> None:
    from types import SimpleNamespace
    from unittest import mock

    from models import calibration

    n = 400
    present = np.ones((n, 4), bool)
    base_ready = np.ones((n, 3), bool)
    base_ready[:150, 1] = False  # thermal baseline still open
    feats = SimpleNamespace(present=present, base_ready=base_ready, asset_type=np.zeros(n, int))
    labels = SimpleNamespace(fault=np.zeros(n, bool))

    class _All:  # every window normal: take() keeps them all
        def __init__(self) -> None:
            self.labels, self.features = labels, feats

        def __len__(self) -> int:
            return n

        def take(self, idx: np.ndarray) -> _All:
            assert len(idx) == n
            return self

    ds = _All()
    scores = np.where(np.arange(n) < 150, 5.0, 0.0)
    with mock.patch("models.validation.predict", return_value=(scores, None, None)):
        cal = calibration.calibrate_dataset(None, None, ds, tmp_path, patterns=False)
    counts = cal.counts()
    assert counts["*|VTCN|nobase"] == 150 and counts["*|VTCN"] == 250
    assert max(cal.reference["*|VTCN"]) == 0.0  # the first hours stay out of the ready one


def test_a_nobase_p_value_is_never_below_one_in_its_assets_plus_one(tmp_path: Path) -> None:
    """A new asset's first hours are compared asset to asset: with 9 assets' first hours in the
    reference, a new asset beyond all of them has p = 1/10, however many windows they hold;
    the ready references keep their window-level p-values. Saved and loaded."""
    rng = np.random.default_rng(2)
    scores = np.concatenate([rng.normal(0, 1, 900), rng.normal(0, 1, 900)])
    groups = ["pump|VTCN"] * 900 + ["pump|VTCN|nobase"] * 900
    assets = [f"P-{i % 30}" for i in range(900)] + [f"P-{i % 9}" for i in range(900)]
    cal = Calibration.fit(scores, groups, assets=assets)
    far = np.array([50.0])
    assert cal.p_values(far, ["pump|VTCN|nobase"])[0] == pytest.approx(1 / 10)
    assert cal.p_values(far, ["fan|VTCN|nobase"])[0] == pytest.approx(1 / 10)  # *|VTCN|nobase
    assert cal.p_values(far, ["pump|VTCN"])[0] == pytest.approx(1 / 901)
    cal.save(tmp_path)
    again = Calibration.load(tmp_path)
    assert again.p_values(far, ["pump|VTCN|nobase"])[0] == pytest.approx(1 / 10)
    doc = json.loads((tmp_path / "calibration" / "calibration.json").read_text())
    assert doc["groups"]["pump|VTCN|nobase"]["floor"] == pytest.approx(0.1)
