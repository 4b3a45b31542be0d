"""Serve's hot-path shortcuts give exactly what the plain code gives (SV, issue 5): the
all-columns thermal interpolation equals ``np.interp`` per column; baselines observed only on
the rows ``AssetBaselines.wanted`` names (zeros elsewhere) equal baselines observed on every
row; a health event's JSON is the dataclass's fields as before. Pure numpy: well under 1 s."""

from __future__ import annotations

import dataclasses
import json

import numpy as np

from ingest.asset_timeline import _interp_rows
from models.baseline import AssetBaselines
from models.config import InputConfig
from plant import WIRE_VERSION
from plant.events import HealthEvent

S = 1_000_000_000


def _reference_interp(grid: np.ndarray, ts: np.ndarray, vals: np.ndarray) -> np.ndarray:
    k = max(0, int(np.searchsorted(ts, grid[0], side="right")) - 1)
    ts, vals = ts[k:], vals[k:]
    x = (grid - ts[0]).astype(np.float64)
    xs = (ts - ts[0]).astype(np.float64)
    out = np.empty((grid.size, vals.shape[1]))
    for j in range(vals.shape[1]):
        col = vals[:, j]
        ok = col == col
        out[:, j] = np.interp(x, xs[ok], col[ok]) if ok.any() else np.nan
    return out


def test_thermal_interpolation_of_all_columns_equals_np_interp_bit_for_bit() -> None:
    rng = np.random.default_rng(0)
    for trial in range(400):
        n, width = int(rng.integers(1, 30)), int(rng.integers(1, 5))
        ts = np.sort(rng.choice(np.arange(1, 10**5) * 10**7, n, replace=False)).astype(np.int64)
        vals = rng.normal(50, 10, (n, width)).astype(np.float32 if trial % 2 else np.float64)
        if trial % 4 == 0:
            vals = np.round(vals)  # equal neighbours: zero slopes
        if trial % 7 == 0 and n > 2:
            vals[1, 0] = np.nan  # the per-column path
        grid = np.sort(ts[0] + rng.integers(-(10**11), 10**12, 32)).astype(np.int64)
        if trial % 3 == 0:
            grid[: min(n, 8)] = ts[: min(n, 8)]  # exactly at knots
            grid = np.sort(grid)
        np.testing.assert_array_equal(
            _interp_rows(grid, ts, vals), _reference_interp(grid, ts, vals)
        )


def _rows(cfg: InputConfig, n: int, rng: np.random.Generator) -> dict:
    c, k, p, t, s = (cfg.vibration_channels, cfg.order_bins, cfg.thermal_probes,
                     cfg.thermal_points, cfg.image_size)  # fmt: skip
    ctx = rng.normal(1, 0.1, (n, t, 4)).astype(np.float32)
    ctx[..., 3] = (rng.random((n, 1)) > 0.1).astype(np.float32)  # some stopped machines
    return {
        "vib": rng.normal(size=(n, c, 3, k)).astype(np.float32),
        "thermal_c": rng.normal(40, 1, (n, t, p)).astype(np.float32),
        "probe_mask": rng.random((n, p)) > 0.2,
        "thermal_ctx": ctx,
        "image": rng.integers(0, 255, (n, s, s, 3)).astype(np.uint8),
        "present": rng.random((n, 4)) > 0.15,
    }


def test_baselines_observed_on_wanted_rows_only_equal_observing_every_row(tmp_path) -> None:
    cfg = InputConfig(order_bins=16, image_size=16, thermal_points=4, baseline_hours=0.5,
                      baseline_spacing_s=60, baseline_min_windows=3)  # fmt: skip
    rng = np.random.default_rng(1)
    full, lean = AssetBaselines(cfg), AssetBaselines(cfg)
    t = 10**18
    wanted_rows = total_rows = stopped_rows = 0
    for _ in range(250):  # bursts of ~10 s of a 6-asset plant over ~45 minutes
        n = int(rng.integers(1, 12))
        assets = [f"A{int(i)}" for i in rng.integers(0, 6, n)]
        t += int(rng.integers(1, 20)) * S
        ts = t + np.sort(rng.integers(0, 10 * S, n))
        rows = _rows(cfg, n, rng)
        full.observe(assets, ts, **rows)
        # as Scorer.observe says it: thermal present, not running at the newest context sample
        stopped = rows["present"][:, 1] & ~(rows["thermal_ctx"][:, -1, 3] > 0.5)
        want = lean.wanted(assets, ts.tolist(), rows["present"], stopped)
        assert not want[stopped][:, [0, 2]].any()  # no spectra for a stopped machine
        stopped_rows += int(stopped.sum())
        keep = np.flatnonzero(want.any(axis=1))
        wanted_rows += keep.size
        total_rows += n
        sub = {k: v[keep] for k, v in rows.items()}
        sub["vib"] = np.where(want[keep, 0][:, None, None, None], sub["vib"], 0.0)
        lean.observe([assets[i] for i in keep], ts[keep], **sub)
    assert 0 < wanted_rows < total_rows / 2  # the spacing leaves most rows out
    assert stopped_rows > 0
    full.save(tmp_path / "full.npz")
    lean.save(tmp_path / "lean.npz")
    with np.load(tmp_path / "full.npz") as a, np.load(tmp_path / "lean.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for name in a.files:
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert any(full.ready(a).any() for a in full.assets())  # some baselines froze on the way


def test_health_event_json_is_every_field_as_before() -> None:
    ev = HealthEvent("PA-001", 5, 87.5, -1.25, 0.31, "normal", 0.9,
                     {"vibration": True, "thermal": False}, {"vibration": 2.5}, "v0001",
                     "motor-pump|V---", {"shapley": {"vibration": 0.1}, "evidence": {}},
                     7, "thermal")  # fmt: skip
    old = json.dumps({"v": WIRE_VERSION, **dataclasses.asdict(ev)}, separators=(",", ":"))
    assert ev.to_json() == old.encode()
    assert HealthEvent.from_json(ev.to_json()) == ev


def test_engine_says_which_low_p_windows_need_an_explanation() -> None:
    from plant.alarms import AlarmEngine
    from tests.alarm_helpers import T0, demo_plant, feed

    engine = AlarmEngine(demo_plant(), None, clock=lambda: T0)
    k = engine.settings.persistence.k
    assert k == 3
    assert not engine.may_use_explanation("P-101")  # a first low window cannot raise
    assert engine.may_use_explanation("P-101", low=k)  # k low windows in one batch can
    assert not engine.may_use_explanation("NOT-IN-PLANT", low=k)
    t = feed(engine, "P-101", T0, [0.0001] * (k - 1))
    assert engine.may_use_explanation("P-101") and not engine.may_use_explanation("P-102")
    assert engine.may_use_explanation("P-101", ts_ns=t)  # a new slot: the k-th low one
    last = t - 300 * S  # the newest event fed (one per 300-s slot)
    assert not engine.may_use_explanation("P-101", ts_ns=last + S)  # merges into its slot
    t = feed(engine, "P-101", t, [0.0001])  # raised: every later low window updates it
    assert engine.list_alarms()[0]["asset"] == "P-101"
    t = feed(engine, "P-101", t, [0.9])
    assert engine.may_use_explanation("P-101")
    engine.on_data_quality("P-102", "temp", "stuck", t)  # the explanation names the modality
    assert engine.may_use_explanation("P-102")
    engine.on_context("P-103", "stopped", t)  # suppressed: its evidence counts for nothing
    assert not engine.may_use_explanation("P-103", low=k)
