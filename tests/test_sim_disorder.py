"""Real-world disorder is present at the configured rates, and ground truth records it."""

from __future__ import annotations

import collections

import numpy as np
import pytest

from plant.readings import Modality, Quality, ThermalReading
from plant.sim.plant import PlantSimulator
from tests.test_sim_support import HOUR_NS, START_NS, plant

RATES = """
dropout_probability = 0.1
duplicate_probability = 0.05
reorder_probability = 0.05
stuck_sensor_per_asset_year = 150
clock_skew_s = 5.0
missing_modality_fraction = 0.5
faults_per_asset_year = 0
"""
HOURS = 8
N_ASSETS = 24


@pytest.fixture(scope="module")
def run() -> tuple[PlantSimulator, list]:
    config = plant([("P", "motor-pump", N_ASSETS)], profile="scalar", simulation=RATES)
    sim = PlantSimulator(config, 21, START_NS)
    return sim, list(sim.readings(START_NS + HOURS * HOUR_NS))


def test_messages_are_lost_at_the_dropout_rate(run) -> None:
    sim, readings = run
    expected = sum(
        HOURS * 360 for a in sim.assets for _, s in a.sensors
    )  # every sensor of these assets reports every 10 s
    received = len(
        {(r.header.asset, r.header.sensor, r.header.epoch, r.header.seq) for r in readings}
    )
    loss = 1 - received / expected
    assert 0.06 < loss < 0.14, loss


def test_duplicates_and_reordering_at_their_rates(run) -> None:
    _, readings = run
    keys = collections.Counter(r.header.dedup_key for r in readings)
    dup = sum(n - 1 for n in keys.values()) / len(keys)
    assert 0.035 < dup < 0.065, dup
    newest: dict[tuple, int] = {}
    late = 0
    for r in readings:
        k = (r.header.asset, r.header.sensor)
        if r.header.ts_ns < newest.get(k, -1):
            late += 1
        newest[k] = max(newest.get(k, -1), r.header.ts_ns)
    # delayed 5-60 s against a 10 s period: most reordered messages arrive behind a newer one
    assert 0.02 < late / len(readings) < 0.07, late / len(readings)


def test_gateway_restart_takes_a_new_epoch_and_restarts_seq(run) -> None:
    _, readings = run
    epochs = collections.defaultdict(lambda: collections.defaultdict(list))
    for r in readings:
        epochs[(r.header.asset, r.header.sensor)][r.header.epoch].append(r.header.seq)
    restarted = [e for e in epochs.values() if len(e) > 1]
    assert restarted, "an outage should have rebooted some gateway"
    for by_epoch in restarted:
        later = sorted(by_epoch)[1:]
        for ep in later:
            assert min(by_epoch[ep]) < 5  # counting starts again after a reboot


def test_clock_skew_is_per_sensor_and_constant(run) -> None:
    sim, readings = run
    a = sim.assets[0]
    for _, s in a.sensors:
        period = int(s.period_s * 1e9)
        base = a.start_ns + a.phase_ns[s.id] + a.disorder.skew_ns[s.id]
        mine = [
            r.header.ts_ns
            for r in readings
            if (r.header.asset, r.header.sensor) == (a.asset.id, s.id)
        ]
        assert mine and all((t - base) % period == 0 for t in mine)
    skews = [v for x in sim.assets for v in x.disorder.skew_ns.values()]
    assert 3.0 < np.std(skews) / 1e9 < 7.0


def test_a_modality_is_absent_on_some_assets(run) -> None:
    sim, readings = run
    missing = {a.asset.id: a.disorder.missing for a in sim.assets}
    share = sum(m is not None for m in missing.values()) / len(missing)
    assert 0.25 < share < 0.75, share
    seen = {(r.header.asset, r.modality) for r in readings}
    for asset, m in missing.items():
        if m is not None:
            assert (asset, m) not in seen
        assert (asset, Modality.CONTEXT) in seen


def test_stuck_probes_repeat_their_value_with_good_quality(run) -> None:
    sim, readings = run
    stuck = sim.truth()
    episodes = [(aid, e) for aid, a in stuck["assets"].items() for e in a["stuck_sensors"]]
    assert episodes, "at 150 stuck episodes per asset-year some probe gets stuck"
    checked = 0  # a minute of margin at both ends: header clocks are skewed by seconds
    for aid, e in episodes:
        values = [
            (r.values_c[e["channel"]], r.header.quality, r.values_c)
            for r in readings
            if isinstance(r, ThermalReading)
            and r.header.asset == aid
            and e["start_ns"] + 60 * 10**9 <= r.header.ts_ns < e["end_ns"] - 60 * 10**9
        ]
        if len(values) < 20:
            continue
        checked += 1
        assert len({v for v, _, _ in values}) == 1
        assert all(q is Quality.GOOD for _, q, _ in values)
        other = next(c for c in values[0][2] if c != e["channel"])
        assert len({d[other] for _, _, d in values}) > 1  # the others keep moving
    assert checked
