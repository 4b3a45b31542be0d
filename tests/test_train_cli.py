"""``plantwatch train`` end to end on a tiny generated plant: real entry point, shrunk config."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from models import registry
from models.scoring import Scorer
from plant.cli import main

TINY_PLANT = """
[plant]
name = "Tiny"
site = "tiny"

[[areas]]
id = "area-a"

[[profiles]]
id = "standard"
[[profiles.sensors]]
id = "vib"
modality = "vibration"
channels = ["x", "y", "z"]
sample_rate_hz = 12800
snapshot_s = 0.1
period_s = 600
[[profiles.sensors]]
id = "temp"
modality = "thermal"
channels = ["bearing_de", "winding"]
period_s = 60
[[profiles.sensors]]
id = "ctx"
modality = "context"
period_s = 60
[[profiles.sensors]]
id = "cam"
modality = "camera"
image_size = 16
period_s = 1800
[[profiles.sensors]]
id = "log"
modality = "notes"
period_s = 7200

[[assets]]
id = "PA"
count = 6
area = "area-a"
type = "motor-pump"
speed_rpm = [1450, 1490]
profile = "standard"
bearing = { n_elements = 9, ball_diameter_mm = 7.94, pitch_diameter_mm = 39.04 }

[simulation]
faults_per_asset_year = 365
degradation_days = [0.1, 0.3]
"""

TINY_MODEL = """
[inputs]
vibration_samples = 1024
order_bins = 32
note_tokens = 16
image_size = 16
thermal_points = 8
[arch]
width = 8
heads = 2
[train]
epochs = 2
batch_size = 8
interval_s = 1800
"""


def test_train_registers_a_loadable_model_with_log_metrics_and_card(tmp_path: Path) -> None:
    (tmp_path / "plant.toml").write_text(TINY_PLANT)
    (tmp_path / "model.toml").write_text(TINY_MODEL)
    data, reg = tmp_path / "data", tmp_path / "reg"
    common = ["--config", str(tmp_path / "plant.toml")]
    assert (
        main(
            [
                "generate",
                *common,
                "--days",
                "0.75",
                "--seed",
                "3",
                "--out",
                str(data),
                "--workers",
                "1",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "train",
                *common,
                "--data",
                str(data),
                "--out",
                str(reg),
                "--model-config",
                str(tmp_path / "model.toml"),
            ]
        )
        == 0
    )
    active = registry.active_model(reg)
    assert active is not None and active.name == registry.versions(reg)[0]  # first: active
    for name in (
        "weights.msgpack",
        "manifest.json",
        "config.json",
        "metrics.json",
        "model_card.md",
        "train_log.jsonl",
    ):
        assert (active / name).is_file(), name
    log = [json.loads(x) for x in (active / "train_log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [0, 1] and all(math.isfinite(r["loss"]) for r in log)
    metrics = json.loads((active / "metrics.json").read_text())
    split = metrics["split"]
    assert not set(split["test_assets"]) & set(split["train_assets"] + split["val_assets"])
    assert metrics["windows"]["train"] > 0 and metrics["windows"]["test"] > 0
    assert json.loads((active / "config.json").read_text())["arch"]["width"] == 8
    scorer = Scorer.load(active)  # checksum verified, loads without pickle
    assert scorer.cfg.inputs.vibration_samples == 1024
    assert np.isfinite(metrics["train_seconds"])
    # calibrated on held-out normal windows (train.calibrate_on = "held_out"): the validation
    # assets' and the non-test assets' test period, more than the validation assets hold alone
    assert metrics["calibrate_on"] == "held_out"
    assert metrics["calibration_windows"] > metrics["windows_trained"]["val"]
    # every presence subset has its own reference, the single-modality ones the largest
    groups = metrics["calibration_groups"]
    full = [g for g in groups if g.endswith("|VTCN") and not g.startswith("*")]
    assert full, groups
    for g in full:
        t = g.split("|")[0]
        assert groups[f"{t}|V---"] >= groups[g] and groups[f"{t}|VTC-"] >= groups[g]
    check_drift_reference(active, data, tmp_path / "plant.toml")


def check_drift_reference(model_dir: Path, data: Path, config_path: Path) -> None:
    """``plantwatch train`` wrote the model page's drift reference (models/drift.py: training
    windows' features, held-out normal scores), and the dashboard's drift over the training store
    itself, read as recent data, gives a figure per input modality and for the score."""
    from dashboard.data.drift import drift
    from ingest.store.reader import StoreReader
    from models.config import ModelConfig
    from plant.config import load_config

    doc = json.loads((model_dir / "drift_reference.json").read_text())
    assert doc["format_version"] == 2 and doc["basis"] == "window features"
    assert {"vibration", "thermal", "score"} <= set(doc["modalities"])
    for ref in doc["modalities"].values():
        assert ref["count"] >= 20 and abs(sum(ref["shares"]) - 1) < 1e-9
    plant = load_config(config_path)
    reader = StoreReader(data)
    cfg = ModelConfig.model_validate_json((model_dir / "config.json").read_text())
    assets = [a.id for a in plant.resolved_assets]
    end = reader.time_range()[1]
    figures = drift(doc, None, reader, assets, end, plant=plant, model_cfg=cfg)
    for m in doc["modalities"]:
        if m != "score":  # the store has no scores: that figure needs serve's health events
            assert figures[m].psi is not None and figures[m].psi >= 0, (m, figures[m])
