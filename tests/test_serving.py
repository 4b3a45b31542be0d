"""The live scorer's bookkeeping (models/serving): incremental fusion with presence refresh, one
fused call per asset per round, events per window; sensor-fault findings; the health scale.
An untrained model (random weights) is enough: these are equalities with the full path."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from flax import nnx

from models.checkpoint import save_model
from models.model import FusionModel
from models.serving.health import health_from_p
from models.serving.live import LiveScorer, rounds
from models.serving.quality import QualityWatch
from plant.config import PlantConfig
from plant.readings import Header, Modality, Quality, ThermalReading, VibrationSnapshot
from tests.test_model_shapes import SMALL, make_window
from tests.test_train_cli import TINY_PLANT


def _live(tmp_path: Path) -> LiveScorer:
    import tomllib

    save_model(FusionModel(SMALL.model_copy(update={"buckets": (1, 8)}), nnx.Rngs(1)), SMALL,
               tmp_path / "m")  # fmt: skip
    config = PlantConfig.model_validate(tomllib.loads(TINY_PLANT))
    return LiveScorer(tmp_path / "m", config.resolved_assets, warm=False)


def test_a_stale_modality_is_reencoded_as_absent_and_events_say_so(tmp_path: Path) -> None:
    live = _live(tmp_path)
    rng = np.random.default_rng(0)
    wins = [make_window(rng, asset=f"PA-00{i}") for i in (1, 2)]
    live.prime(wins)
    # PA-001's vibration went stale; a thermal reading rescoring it must not read old tokens
    stale = dataclasses.replace(wins[0], vibration=None, trigger=Modality.THERMAL)
    [ev] = live.score([stale])
    full, _ = live.scorer.score([stale])
    assert ev.present == {"vibration": False, "thermal": True, "camera": True, "notes": True}
    assert "vibration" not in ev.staleness_s
    np.testing.assert_allclose(ev.anomaly_score, full[0], rtol=1e-5, atol=1e-5)
    # and back: a vibration reading re-encodes it, present again
    back = dataclasses.replace(wins[0], trigger=Modality.VIBRATION)
    [ev2] = live.score([back])
    full2, _ = live.scorer.score([back])
    assert ev2.present["vibration"]
    np.testing.assert_allclose(ev2.anomaly_score, full2[0], rtol=1e-5, atol=1e-5)


def test_two_windows_of_one_asset_in_a_batch_are_scored_in_turn(tmp_path: Path) -> None:
    live = _live(tmp_path)
    rng = np.random.default_rng(1)
    a1, b1 = make_window(rng, asset="PA-001"), make_window(rng, asset="PA-002")
    a2 = dataclasses.replace(make_window(rng, fault=True, asset="PA-001"), ts_ns=a1.ts_ns + 1)
    wins = [dataclasses.replace(w, trigger=None) for w in (a1, b1, a2)]
    events = live.score(wins)
    assert [(e.asset, e.ts_ns) for e in events] == [(w.asset, w.ts_ns) for w in wins]
    full, _ = live.scorer.score(wins)  # untriggered windows re-encode every modality
    np.testing.assert_allclose([e.anomaly_score for e in events], full, rtol=1e-5, atol=1e-5)
    assert [len(r) for r in rounds(list(enumerate(wins)))] == [2, 1]


def test_unknown_assets_get_no_event(tmp_path: Path) -> None:
    live = _live(tmp_path)
    w = make_window(np.random.default_rng(2), asset="NOT-IN-PLANT")
    assert live.score([w]) == []


def test_quality_watch_raises_and_clears_stuck_and_dead() -> None:
    q = QualityWatch(stuck_repeats=3)
    rng = np.random.default_rng(0)

    def vib(i: int, samples: np.ndarray) -> VibrationSnapshot:
        return VibrationSnapshot(Header("PA-001", "vib", i, 1, i), 12800.0, ("x", "y"), samples)

    ok = rng.normal(size=(2, 256)).astype(np.float32)
    flat = ok.copy()
    flat[1] = 0.0
    assert q.check(vib(1, ok)) == []
    assert q.check(vib(2, flat)) == [("PA-001", "vib", "stuck", 2, True)]
    assert q.check(vib(3, flat)) == []  # raised once
    assert q.check(vib(4, ok)) == [("PA-001", "vib", "stuck", 4, False)]
    for i in range(3):
        found = q.check(ThermalReading(Header("PA-001", "t", i, 1, i), {"a": 40.0, "b": 41.0 + i}))
    assert found == [("PA-001", "t", "stuck", 2, True)]
    bad = ThermalReading(Header("PA-001", "t", 9, 1, 9, Quality.BAD), {"a": 40.5, "b": 50.0})
    assert ("PA-001", "t", "dead", 9, True) in q.check(bad)


def test_health_scale() -> None:
    np.testing.assert_allclose(health_from_p(np.array([1.0, 0.1, 0.01, 1e-4, 1e-9])),
                               [100, 75, 50, 0, 0])  # fmt: skip
