"""The simulator is deterministic by seed, per asset, and independent of how time is chunked."""

from __future__ import annotations

import itertools

from plant.codec import encode
from plant.sim.plant import PlantSimulator
from tests.test_sim_support import HOUR_NS, START_NS, plant

BUSY = "faults_per_asset_year = 365\ndegradation_days = [0.02, 0.05]"


def _messages(sim: PlantSimulator, until_ns: int, asset: str | None = None) -> list[bytes]:
    return [
        r.header.asset.encode() + r.header.sensor.encode() + encode(r)
        for r in sim.readings(until_ns)
        if asset is None or r.header.asset == asset
    ]


def test_same_seed_gives_identical_readings_and_labels() -> None:
    config = plant([("P", "motor-pump", 2), ("G", "gearbox", 1)], simulation=BUSY)
    a = PlantSimulator(config, 5, START_NS)
    b = PlantSimulator(config, 5, START_NS)
    assert _messages(a, START_NS + 2 * HOUR_NS) == _messages(b, START_NS + 2 * HOUR_NS)
    assert a.episodes == b.episodes and a.episodes, "busy plant should have episodes"


def test_another_seed_gives_other_readings() -> None:
    config = plant([("P", "motor-pump", 1)])
    a = _messages(PlantSimulator(config, 1, START_NS), START_NS + HOUR_NS)
    b = _messages(PlantSimulator(config, 2, START_NS), START_NS + HOUR_NS)
    assert len(set(a) & set(b)) < len(a) // 100


def test_an_asset_is_unchanged_when_the_plant_grows() -> None:
    small = plant([("P", "motor-pump", 2)], simulation=BUSY)
    grown = plant([("P", "motor-pump", 2), ("F", "fan", 3)], simulation=BUSY)
    until = START_NS + 2 * HOUR_NS
    a = _messages(PlantSimulator(small, 9, START_NS), until, "P-002")
    b = _messages(PlantSimulator(grown, 9, START_NS), until, "P-002")
    assert a == b and len(a) > 1000


def test_cutting_time_differently_gives_the_same_readings() -> None:
    config = plant([("P", "motor-pump", 1)], simulation=BUSY)
    whole = PlantSimulator(config, 4, START_NS)
    one = sorted(_messages(whole, START_NS + 3 * HOUR_NS))
    cut = PlantSimulator(config, 4, START_NS)
    parts = []
    for t in (START_NS + HOUR_NS // 3, START_NS + 2 * HOUR_NS + 17, START_NS + 3 * HOUR_NS):
        parts += _messages(cut, t)
    assert sorted(parts) == one
    fine = PlantSimulator(config, 4, START_NS, step_s=37)  # small live steps: same data
    assert sorted(_messages(fine, START_NS + 3 * HOUR_NS)) == one


def test_readings_come_in_publish_time_order_apart_from_disorder() -> None:
    config = plant([("P", "motor-pump", 3)], simulation="reorder_probability = 0.0")
    ts = [r.header.ts_ns for r in PlantSimulator(config, 0, START_NS).readings(START_NS + HOUR_NS)]
    late = sum(1 for x, y in itertools.pairwise(ts) if y < x - 20 * 10**9)
    assert late == 0  # without reordering, only clock skew (seconds) perturbs the order
