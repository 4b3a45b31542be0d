"""``plantwatch generate`` on a tiny plant writes a readable store with labels and truth."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from ingest.store import StoreReader
from plant.config import parse_config
from plant.readings import Modality
from plant.sim.plant import PlantSimulator
from tests.test_sim_support import START_NS, plant_text

SIM = "faults_per_asset_year = 365\ndegradation_days = [0.02, 0.05]\nduplicate_probability = 0.0"


def test_generate_writes_readings_labels_and_truth(tmp_path: Path) -> None:
    cfg = tmp_path / "plant.toml"
    cfg.write_text(plant_text([("P", "motor-pump", 2), ("G", "gearbox", 1)], simulation=SIM))
    out = tmp_path / "store"
    cmd = [
        sys.executable,
        "-m",
        "plant.cli",
        "generate",
        "--config",
        str(cfg),
        "--days",
        "0.125",
        "--seed",
        "3",
        "--out",
        str(out),
        "--start",
        "2026-01-05T00:00:00Z",
        "--workers",
        "2",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    reader = StoreReader(out)
    for m in Modality:
        rows = reader.read(m)
        assert rows.num_rows == summary["messages"][m.value] > 0, m
    assert sorted(reader.assets()) == ["G", "P-001", "P-002"]
    thermal = reader.read(Modality.THERMAL)
    lag_s = (thermal.column("ingest_ns").to_numpy() - thermal.column("ts_ns").to_numpy()) / 1e9
    assert np.abs(lag_s).max() < 90  # ingest time = simulated arrival: clock skew + delays
    assert (lag_s > 15).sum() > 0  # some messages were held back (out of order), as live

    # Same data as simulating in this process: the store holds what the simulator made.
    config = parse_config(cfg.read_text())
    sim = PlantSimulator(config, 3, START_NS)
    expected = list(sim.readings(START_NS + 3 * 3600 * 10**9))
    vib = [r for r in expected if r.modality is Modality.VIBRATION and r.header.asset == "G"]
    stored = reader.readings(Modality.VIBRATION, "G")
    first = min(vib, key=lambda r: r.header.ts_ns)
    match = next(r for r in stored if r.header.dedup_key == first.header.dedup_key)
    np.testing.assert_array_equal(match.samples, first.samples)

    labels = reader.labels()
    assert labels and sorted(labels, key=_key) == sorted(sim.episodes, key=_key)
    truth = json.loads((out / "truth.json").read_text())
    assert set(truth["assets"]) == {"G", "P-001", "P-002"}
    assert sum(len(a["episodes"]) for a in truth["assets"].values()) == len(labels)
    assert not list(out.glob(".truth-*"))


def test_generate_refuses_a_bad_config_with_exit_2(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[plant]\nname = 'x'\n")
    cmd = [
        sys.executable,
        "-m",
        "plant.cli",
        "generate",
        "--config",
        str(cfg),
        "--days",
        "1",
        "--out",
        str(tmp_path / "o"),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and "areas" in done.stderr


def _key(e) -> tuple:
    return (e.asset, e.onset_ns)
