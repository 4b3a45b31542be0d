"""Inputs of benchmarks/simulator_realism.py: the real series and texts, and simulated ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from plant.config import PlantConfig, load_config, parse_config
from plant.labels import FaultClass, FaultEpisode
from plant.readings import OperatorNote
from plant.sim.context import RUNNING, ContextArrays
from plant.sim.episodes import ScheduledFault
from plant.sim.faults import FAULT_TABLE
from plant.sim.plant import PlantSimulator
from plant.sim.thermal import ThermalModel, fault_heat_c, measured_c

NS = 1_000_000_000
START_NS = 1_767_571_200 * NS
REPO = Path(__file__).resolve().parent.parent


def _noise(x: np.ndarray) -> float:
    """Sensor noise estimated from first differences (insensitive to slow trends)."""
    return float(np.std(np.diff(x)) / np.sqrt(2))


def pronostia_series(data: Path) -> dict[str, tuple[np.ndarray, np.ndarray, float]]:
    """Per bearing: (time s, per-minute mean RTD temperature °C, noise °C at 10 Hz)."""
    out = {}
    base = data / "thermal-temperature" / "pronostia" / "Learning_set"
    for d in sorted(base.iterdir()):
        files = sorted(d.glob("temp_*.csv"))
        if not files:
            continue
        t, temp, noise = [], [], []
        for f in files:
            rows = np.array(
                [ln.replace(";", ",").split(",") for ln in f.read_text().split()], dtype=float
            )
            secs = rows[0, 0] * 3600 + rows[0, 1] * 60 + rows[0, 2]
            if t and secs < t[-1] % 86_400:
                secs += 86_400 * (1 + int(t[-1] // 86_400))
            elif t:
                secs += 86_400 * int(t[-1] // 86_400)
            t.append(secs)
            temp.append(rows[:, 4].mean())
            noise.append(_noise(rows[:, 4]))
        out[d.name] = (np.array(t), np.array(temp), float(np.median(noise)))
    return out


def maintnorm_texts(data: Path) -> dict[str, list[tuple[list[str], list[str]]]]:
    """MaintNorm combined splits: per text, its raw and normalised tokens."""
    out = {}
    for split in ("train", "test"):
        path = data / "maintenance-text" / "maintnorm" / "data" / "combined" / f"{split}.norm"
        texts = []
        for block in path.read_text(encoding="utf-8").split("\n\n"):
            pairs = [ln.split("\t") for ln in block.splitlines() if "\t" in ln]
            if pairs:
                texts.append(([p[0] for p in pairs], [p[1] for p in pairs]))
        out[split] = texts
    return out


NOTES_PLANT = """
[plant]
name = "notes"
site = "s"
[[areas]]
id = "a"
[[profiles]]
id = "p"
[[profiles.sensors]]
id = "ctx"
modality = "context"
period_s = 600
[[profiles.sensors]]
id = "temp"
modality = "thermal"
channels = ["bearing_de", "bearing_nde", "winding"]
period_s = 600
[[profiles.sensors]]
id = "log"
modality = "notes"
period_s = 3600
[[assets]]
id = "P"
count = 40
area = "a"
type = "motor-pump"
speed_rpm = [1450, 1490]
profile = "p"
bearing = { n_elements = 9, ball_diameter_mm = 7.94, pitch_diameter_mm = 39.04 }
[simulation]
faults_per_asset_year = 24
degradation_days = [1.0, 4.0]
"""


def simulated_notes(n: int, seed: int = 0) -> list[str]:
    """At least ``n`` notes from a 40-pump plant with faults (one note an hour per pump)."""
    config: PlantConfig = parse_config(NOTES_PLANT)
    sim = PlantSimulator(config, seed, START_NS)
    hours = -(-n // 40) + 1
    notes = [
        r.text for r in sim.readings(START_NS + hours * 3600 * NS) if isinstance(r, OperatorNote)
    ]
    return notes[:n]


def simulated_rise_curves() -> dict[str, tuple[np.ndarray, np.ndarray, float]]:
    """Bearing-DE probe from onset to failure at constant 80 % load and 22 °C ambient."""
    config = load_config(REPO / "configs" / "plant.toml")
    asset = config.resolved_assets[0]
    sensor = next(s for s in asset.sensors if s.modality.value == "thermal")
    out = {}
    for fault in (FaultClass.LUBRICATION_STARVATION, FaultClass.BEARING_OUTER):
        spec = FAULT_TABLE[fault]
        days = 4.0
        t = START_NS + np.arange(0, int(days * 86_400), 10, dtype=np.int64) * NS
        e = FaultEpisode(
            asset.id,
            fault,
            int(t[0]),
            int(t[-1]),
            int(t[-1]),
            spec.visible_in,
            spec.primary,
            spec.growth_exponent,
        )
        f = ScheduledFault(e, spec, noted=True, location=0)
        speed = np.full(len(t), asset.config.speed_rpm[1] / 60 * 0.99)
        ctx = ContextArrays(
            t,
            speed,
            np.full(len(t), 0.8),
            np.full(len(t), 22.0),
            np.full(len(t), RUNNING, dtype=np.int8),
        )
        model = ThermalModel(asset, sensor, 0, 1)
        heat = fault_heat_c(model.channels, [f], t, speed > 0)
        true_c = model.advance(ctx, heat)[:, 0]
        z = np.random.default_rng(0).standard_normal(len(t))
        meas = measured_c(true_c, z)
        per_min = meas[: len(t) // 6 * 6].reshape(-1, 6).mean(axis=1)
        out[f"{fault.value} (bearing_de)"] = (
            np.arange(len(per_min)) * 60.0,
            per_min,
            _noise(meas),
        )
    return out
