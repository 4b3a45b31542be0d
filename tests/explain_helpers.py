"""Synthetic windows with planted faults, and a tiny model trained on them (explain/evaluate tests).

A bearing fault is a 3 kHz resonance amplitude-modulated at the defect rate (BPFO for an outer-race,
BPFI for an inner-race fault) of the asset's bearing, at a speed drawn per window, so only the
envelope spectrum at the defect order tells it; thermal, camera and notes stay normal (the fault's
primary and only modality is vibration). A thermal fault heats one probe (primary: thermal).
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ingest.window import ThermalSeries, Window
from models.config import ModelConfig
from models.dataset import build_dataset
from models.scoring import Scorer
from models.train import train_and_evaluate
from plant.config.assets import BearingGeometry
from plant.labels import FaultClass, FaultEpisode
from plant.physics.bearing import defect_frequencies, kinematic_orders
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
HOUR = 3600 * 10**9
BEARING = BearingGeometry(n_elements=9, ball_diameter_mm=7.94, pitch_diameter_mm=39.04)
ORDERS = defect_frequencies(BEARING, 1.0)
TINY = ModelConfig.model_validate(
    {
        "inputs": {
            "vibration_samples": 4096,
            "vibration_channels": 1,
            "order_bins": 128,
            "max_order": 16.0,
            "note_tokens": 32,
            "image_size": 16,
            "thermal_points": 8,
            "thermal_probes": 2,
        },
        "arch": {"width": 16, "heads": 2},
        "train": {
            "epochs": 25,
            "steps_per_epoch": 12,
            "patience": 25,
            "batch_size": 32,
            "learning_rate": 3e-3,
            "seed": 1,
        },
        "buckets": (1, 8, 64),
    }
)
FAULTS = {
    FaultClass.BEARING_OUTER: (ORDERS.bpfo_hz, Modality.VIBRATION),
    FaultClass.BEARING_INNER: (ORDERS.bpfi_hz, Modality.VIBRATION),
    FaultClass.COOLING_FAILURE: (0.0, Modality.THERMAL),
}


def make_window(
    rng: np.random.Generator,
    asset: str,
    ts_ns: int,
    fault: FaultClass | None = None,
    fs: float = 12_800.0,
    n: int = 4096,
    note: str = "rounds ok no issues",
) -> Window:
    speed = float(rng.uniform(20.0, 30.0))
    h = Header(asset, "s", ts_ns, 1, 0)
    t = np.arange(n) / fs
    x = 0.3 * np.sin(2 * np.pi * speed * t + rng.uniform(0, 6)) + 0.05 * rng.normal(size=(1, n))
    ring = np.sin(2 * np.pi * 3000 * t)
    if fault in (FaultClass.BEARING_OUTER, FaultClass.BEARING_INNER):
        rate = FAULTS[fault][0] * speed
        x += (1 + np.cos(2 * np.pi * rate * t + rng.uniform(0, 6))) * 0.25 * ring
    else:  # the resonance rings as loud when healthy (same power): only the envelope tells
        x += 0.25 * np.sqrt(1.5) * ring
    vib = VibrationSnapshot(h, fs, ("x",), x.astype(np.float32))
    k = 8
    load = float(rng.uniform(0.5, 0.9))
    temp = 35 + 10 * load + rng.normal(0, 0.2, (k, 2))
    if fault is FaultClass.COOLING_FAILURE:
        temp[:, 1] += np.linspace(4, 9, k)
    thermal = ThermalSeries(
        ts_ns=ts_ns - np.arange(k)[::-1].astype(np.int64) * 60 * 10**9,
        channels=("bearing_de", "winding"),
        temperature_c=temp.astype(np.float32),
        load_fraction=np.full(k, load, np.float32),
        ambient_c=np.full(k, 22.0, np.float32),
        shaft_speed_hz=np.full(k, speed, np.float32),
        running=np.ones(k, bool),
    )
    img = rng.integers(100, 140, (16, 16, 3)).astype(np.uint8)
    return Window(
        asset=asset,
        asset_type="motor-pump",
        ts_ns=ts_ns,
        vibration=vib,
        thermal=thermal,
        camera=CameraImage(h, img),
        notes=(OperatorNote(Header(asset, "log", ts_ns - HOUR, 1, 0), note),),
        context=ContextReading(h, speed, load, 22.0, MachineState.RUNNING),
        staleness_s={m: 0.0 for m in Modality if m is not Modality.CONTEXT},
        kinematic_orders=kinematic_orders(BEARING),  # as the window assembly fills it
    )


def plant_windows(
    seed: int = 0, assets: int = 30, per_asset: int = 12
) -> tuple[list[Window], list[FaultEpisode]]:
    """Per 6 assets: an outer-race fault, an inner-race fault, a cooling failure, 3 normal."""
    rng = np.random.default_rng(seed)
    kinds = [FaultClass.BEARING_OUTER, FaultClass.BEARING_INNER, FaultClass.COOLING_FAILURE]
    windows, episodes = [], []
    for a in range(assets):
        name = f"PA-{a:03d}"
        fault = kinds[a % 6] if a % 6 < 3 else None
        if fault is not None:
            primary = FAULTS[fault][1]
            episodes.append(
                FaultEpisode(
                    name, fault, T0 - HOUR, T0 + 100 * HOUR, T0 + 100 * HOUR,
                    frozenset({primary}), primary, onset_severity=0.3,
                )  # episodes start at their P point, as the simulator's do
            )  # fmt: skip
        for i in range(per_asset):
            windows.append(make_window(rng, name, T0 + i * HOUR, fault))
    return windows, episodes


def train_tiny(workdir: Path, seed: int = 0) -> Scorer:
    """Train the tiny model on a synthetic plant; the model directory is ``workdir``."""
    windows, episodes = plant_windows(seed)
    ds = build_dataset(windows, episodes, TINY)
    train_and_evaluate(TINY, workdir, ds)
    return Scorer.load(workdir)


@functools.cache
def tiny_model_dir() -> Path:
    """One tiny trained model per test process (shared by the test modules that need it)."""
    d = Path(tempfile.mkdtemp(prefix="pw-tiny-model-"))
    atexit.register(shutil.rmtree, d, True)
    train_tiny(d / "model")
    return d / "model"
