"""Window assembly on the plant simulator's messy data: the skew it adds is found and removed."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ingest.assembly import WindowAssembler
from plant.config import load_config
from plant.sim.plant import PlantSimulator

REPO = Path(__file__).resolve().parent.parent
START = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
S = 1_000_000_000


def test_simulated_clock_skew_is_estimated_within_ten_ms_and_windows_complete() -> None:
    config = load_config(REPO / "configs" / "plant.toml")
    sim = PlantSimulator(config, seed=5, start_ns=START, assets=frozenset({"P-101", "G-201"}))
    asm = WindowAssembler(config)
    windows = [w for pub, r in sim.messages(START + 2 * 3600 * S) if (w := asm.add(r, pub))]
    truth = sim.truth()["assets"]
    for asset in ("P-101", "G-201"):
        clocks = asm.timeline(asset).clocks
        skews = truth[asset]["clock_skew_s"]
        assert any(abs(s) > 0.5 for s in skews.values())  # there is skew to correct
        for sensor, skew_s in skews.items():
            if sensor in asm.timeline(asset).newest and sensor != "log":  # notes: a few a day
                assert abs(clocks[sensor].offset_ns / S - skew_s) < 0.01, (asset, sensor)
    late = [w for w in windows if w.ts_ns > START + 3600 * S]
    # the simulator holds 0.5 % of messages back 5-60 s; beyond the 30 s tolerance they are
    # dropped (counted), and its redeliveries are caught as duplicates
    assert 0 < asm.stats.too_late < 0.005 * asm.stats.readings
    assert asm.stats.duplicates > 0
    present = np.array([w.mask[:2] for w in late])  # vibration and thermal
    assert present.mean() > 0.95
    assert all(w.ts_ns >= w.thermal.ts_ns[-1] for w in late if w.thermal is not None)
