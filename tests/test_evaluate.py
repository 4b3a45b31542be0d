"""``plantwatch evaluate`` end to end on a tiny generated plant: every key of issue 4, sane values.

Real entry points (generate -> train -> evaluate --baselines --save), shrunk configs.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from models import registry
from models.baselines import IsolationForest
from plant.cli import main
from tests.test_train_cli import TINY_MODEL, TINY_PLANT

MODALITIES = ("vibration", "thermal", "camera", "notes")


def _unit(x: object) -> bool:
    return x is None or (isinstance(x, float | int) and 0.0 <= x <= 1.0)


@pytest.mark.slow
@pytest.mark.timeout(1800)  # ~4 min of CPU (3 small trainings); far more wall time on a busy box
def test_evaluate_writes_every_figure(tmp_path: Path) -> None:
    (tmp_path / "plant.toml").write_text(TINY_PLANT)
    (tmp_path / "model.toml").write_text(TINY_MODEL)
    data, reg, out = tmp_path / "data", tmp_path / "reg", tmp_path / "eval.json"
    common = ["--config", str(tmp_path / "plant.toml")]
    gen = ["generate", *common, "--days", "0.75", "--seed", "3", "--out", str(data)]
    assert main([*gen, "--workers", "1"]) == 0
    train = ["train", *common, "--data", str(data), "--out", str(reg)]
    assert main([*train, "--model-config", str(tmp_path / "model.toml")]) == 0
    model = registry.active_model(reg)
    assert model is not None and (model / "calibration" / "calibration.json").is_file()
    args = ["evaluate", *common, "--model", str(model), "--data", str(data), "--json", str(out)]
    assert main([*args, "--save", "--baselines", "--classical-windows", "100"]) == 0

    doc = json.loads(out.read_text())
    assert json.loads((model / "evaluation.json").read_text()) == doc
    keys = set(MODALITIES) | {"fused", "late_fusion", "early_fusion", "classical"}
    assert keys <= set(doc["auroc"]) and all(_unit(doc["auroc"][k]) for k in keys)
    assert doc["auroc"]["late_fusion"] is not None and doc["auroc"]["classical"] is not None
    assert set(doc["auroc_missing"]) == {*MODALITIES, "random30"}
    assert all(_unit(v) for v in doc["auroc_missing"].values())
    for k in ("recall_before_failure", "lead_time_median_fraction"):
        assert _unit(doc[k]), (k, doc[k])
    assert doc["false_alarms_per_asset_day"] >= 0
    for a in ("0.01", "0.001"):
        r = doc["realised_alpha"][a]
        assert r["windows"] == doc["counts"]["normal_windows"] > 0
        lo, hi = r["ci95"]
        assert 0 <= lo <= r["value"] <= hi <= 1
    assert _unit(doc["shapley_top_modality_accuracy"])
    assert _unit(doc["bearing_defect_frequency_hit_rate"])
    c = doc["counts"]
    assert c["windows"] == c["fault_windows"] + c["normal_windows"] > 0
    assert c["assets"] >= 1 and c["asset_days"] > 0 and c["faults"] >= 0
    metrics = json.loads((model / "metrics.json").read_text())
    assert c["assets"] == len(metrics["split"]["test_assets"])  # test assets only
    assert math.isfinite(doc["seconds"])

    # another plant (its own seed): every window is test data, even where asset ids coincide
    other, out2 = tmp_path / "other", tmp_path / "eval-other.json"
    gen2 = ["generate", *common, "--days", "0.3", "--seed", "5", "--out", str(other)]
    assert main([*gen2, "--workers", "1"]) == 0
    args2 = ["evaluate", *common, "--model", str(model), "--data", str(other), "--json", str(out2)]
    assert main([*args2, "--new-plant", "--explain-limit", "20"]) == 0
    doc2 = json.loads(out2.read_text())
    from ingest.store.reader import StoreReader

    assert doc2["counts"]["assets"] == len(StoreReader(other).assets())
    assert doc2["split"]["new_plant"] is True
    with pytest.raises(ValueError, match="new-plant"):
        main([*args2, "--new-plant", "--baselines"])


def test_isolation_forest_isolates_outliers() -> None:
    rng = np.random.default_rng(0)
    normal = rng.normal(size=(2000, 5))
    forest = IsolationForest(n_trees=100, seed=1).fit(normal)
    inliers = forest.score(rng.normal(size=(200, 5)))
    outliers = forest.score(rng.normal(size=(200, 5)) + np.array([4, 4, 0, 0, 0]))
    assert outliers.mean() > inliers.mean() + 0.1
    assert np.mean(outliers[:, None] > inliers[None, :]) > 0.95  # AUROC
    assert np.all((inliers > 0) & (inliers < 1))
