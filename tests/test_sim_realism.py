"""The simulator against real data: PRONOSTIA bearing temperatures, MaintNorm shift-log texts."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from scipy.optimize import curve_fit

from plant.readings import OperatorNote
from plant.sim.plant import PlantSimulator
from plant.sim.thermal import PROBE_KINDS
from tests.test_sim_support import HOUR_NS, START_NS, plant

TOKEN = re.compile(r"[a-z0-9/&+-]+")


def _pronostia_minutes(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    temps = []
    for f in sorted(folder.glob("temp_*.csv"))[:90]:  # the first 90 minutes: the start-up
        rows = [ln.replace(";", ",").split(",") for ln in f.read_text().split()]
        temps.append(np.mean([float(r[4]) for r in rows]))
    return np.arange(len(temps), dtype=float), np.array(temps)


def test_bearing_time_constants_match_pronostia_start_ups(shared_data: Path) -> None:
    base = shared_data / "thermal-temperature" / "pronostia" / "Learning_set"
    fitted = []
    for name in ("Bearing1_2", "Bearing2_1", "Bearing3_1"):
        x, y = _pronostia_minutes(base / name)
        (_, _, tau), _ = curve_fit(
            lambda x, t, a, tau: t - a * np.exp(-x / tau), x, y, p0=(y[-1], y[-1] - y[0], 20.0)
        )
        fitted.append(tau)
    lo, hi = PROBE_KINDS["bearing"][0]
    assert min(fitted) > 10 and max(fitted) < 45, fitted  # PRONOSTIA: tens of minutes
    assert lo <= np.median(fitted) * 1.5 and hi >= np.median(fitted) * 0.7, (fitted, lo, hi)


def _maintnorm_raw(shared_data: Path) -> list[str]:
    path = shared_data / "maintenance-text" / "maintnorm" / "data" / "combined" / "test.norm"
    blocks = path.read_text(encoding="utf-8").split("\n\n")
    return [" ".join(ln.split("\t")[0] for ln in b.splitlines() if "\t" in ln) for b in blocks]


def test_notes_are_as_terse_and_shouty_as_real_maintenance_texts(shared_data: Path) -> None:
    real = [t for t in _maintnorm_raw(shared_data) if t]
    config = plant([("P", "motor-pump", 30)], profile="notes")
    sim = PlantSimulator(config, 2, START_NS)
    notes = [r.text for r in sim.readings(START_NS + 24 * HOUR_NS) if isinstance(r, OperatorNote)]
    assert len(notes) > 300

    def tokens(texts: list[str]) -> float:
        return float(np.median([len(TOKEN.findall(t.lower())) for t in texts]))

    def capitals(texts: list[str]) -> float:
        return sum(t.isupper() for t in texts) / len(texts)

    assert abs(tokens(notes) - tokens(real)) <= 2, (tokens(notes), tokens(real))
    assert abs(capitals(notes) - capitals(real)) < 0.1, (capitals(notes), capitals(real))
