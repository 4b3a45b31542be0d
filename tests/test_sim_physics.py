"""Process context and the thermal model behave as the plant physics says."""

from __future__ import annotations

import numpy as np

from plant.labels import FaultClass
from plant.readings import ContextReading, MachineState, ThermalReading
from plant.sim.camera import CameraScene
from plant.sim.context import MAINTENANCE, RUNNING, STARTING, STOPPED, ContextModel
from plant.sim.plant import PlantSimulator
from plant.sim.thermal import ThermalModel
from tests.test_sim_support import DAY_NS, HOUR_NS, START_NS, plant

NS = 1_000_000_000


def _asset(kind: str = "motor-pump", simulation: str = ""):
    return plant([("A", kind, 1)], simulation=simulation).resolved_assets[0]


def test_context_follows_shifts_days_and_speed_range() -> None:
    asset = _asset("fan", "stops_per_week = 0")
    config = plant([("A", "fan", 1)], simulation="stops_per_week = 0")
    model = ContextModel(asset, config.simulation, 3, shift=False)
    t = START_NS + np.arange(0, 7 * DAY_NS, 60 * NS)
    ctx = model.compute(t, [])
    assert (ctx.state == RUNNING).all()
    lo, hi = (x / 60 for x in asset.config.speed_rpm)
    assert ctx.shaft_speed_hz.min() >= lo - 1e-9 and ctx.shaft_speed_hz.max() <= hi + 1e-9
    hour = (t % DAY_NS) / HOUR_NS
    night = ctx.load_fraction[(hour >= 23) | (hour < 5)].mean()
    day = ctx.load_fraction[(hour >= 7) & (hour < 13)].mean()
    assert day > night + 0.1  # the night shift runs lighter
    afternoon = ctx.ambient_c[(hour >= 13) & (hour < 17)].mean()
    dawn = ctx.ambient_c[(hour >= 3) & (hour < 7)].mean()
    assert afternoon > dawn + 3  # the daily ambient cycle
    shifted = ContextModel(asset, config.simulation, 3, shift=True).compute(t, [])
    assert shifted.ambient_c.mean() > ctx.ambient_c.mean() + 5
    assert shifted.load_fraction.mean() > ctx.load_fraction.mean() + 0.1


def test_machines_stop_start_and_go_into_maintenance() -> None:
    config = plant([("A", "motor-pump", 1)], simulation="stops_per_week = 20")
    model = ContextModel(config.resolved_assets[0], config.simulation, 1, shift=False)
    t = START_NS + np.arange(0, 7 * DAY_NS, 10 * NS)
    repair = (START_NS + 2 * DAY_NS, START_NS + 2 * DAY_NS + 6 * HOUR_NS)
    ctx = model.compute(t, [repair])
    for code in (RUNNING, STOPPED, STARTING, MAINTENANCE):
        assert (ctx.state == code).any(), code
    inside = (t >= repair[0]) & (t < repair[1])
    assert (ctx.state[inside] == MAINTENANCE).all()
    assert (ctx.shaft_speed_hz[ctx.state != RUNNING] < ctx.shaft_speed_hz.max()).all()
    assert (ctx.shaft_speed_hz[(ctx.state == STOPPED) | (ctx.state == MAINTENANCE)] == 0).all()
    after = np.flatnonzero(t >= repair[1])[0]
    assert ctx.state[after] == STARTING  # a run-up after maintenance


def test_thermal_probe_settles_with_its_time_constant() -> None:
    asset = _asset()
    config = plant([("A", "motor-pump", 1)], simulation="stops_per_week = 0")
    sensor = asset.sensors[1]
    model = ThermalModel(asset, sensor, 0, 1)
    ctx_model = ContextModel(asset, config.simulation, 0, shift=False)
    t = START_NS + np.arange(0, 6 * HOUR_NS, 10 * NS)
    ctx = ctx_model.compute(t, [(START_NS, START_NS + HOUR_NS)])  # cold start after a repair
    temps = model.advance(ctx, np.zeros((len(t), 3)))
    target = model.steady_c(ctx, np.zeros((len(t), 3)))
    assert model.tau_s.min() > 10 * 60 and model.tau_s.max() < 70 * 60  # tens of minutes
    start = np.flatnonzero(t >= START_NS + HOUR_NS)[0] + 18  # after the 3-minute run-up
    de = 0
    gap0 = target[start, de] - temps[start, de]
    k = start + int(model.tau_s[de] / 10)
    gap_tau = target[k, de] - temps[k, de]
    assert gap0 > 5  # it was cold: the machine had stood still
    assert 0.2 < gap_tau / gap0 < 0.55  # ~ e^-1 of the gap is left after one time constant
    assert abs(target[-1, de] - temps[-1, de]) < 1.5  # settled after hours


def test_cooling_failure_heats_the_winding_in_the_readings() -> None:
    config = plant(
        [("P", "motor-pump", 40)],
        profile="scalar",
        simulation="faults_per_asset_year = 100\ndegradation_days = [0.2, 0.4]",
    )
    scout = PlantSimulator(config, 11, START_NS)
    for a in scout.assets:  # schedules only: cheap
        a.faults.extend(START_NS + 10 * DAY_NS)
    e = next(
        e
        for e in scout.episodes
        if e.fault is FaultClass.COOLING_FAILURE and e.onset_ns > START_NS + 6 * HOUR_NS
    )
    sim = PlantSimulator(config, 11, START_NS, assets=frozenset({e.asset}))
    readings = list(sim.readings(e.failure_ns))
    assert e in sim.episodes  # the labels are the same when one asset is simulated alone
    thermal = [r for r in readings if isinstance(r, ThermalReading)]
    ts = np.array([r.header.ts_ns for r in thermal])
    w = np.array([r.values_c["winding"] for r in thermal])
    state = {r.header.ts_ns: r.state for r in readings if isinstance(r, ContextReading)}
    before = w[(ts < e.onset_ns) & (ts > e.onset_ns - 6 * HOUR_NS)]
    late = (ts > e.failure_ns - HOUR_NS // 2) & (ts < e.failure_ns)
    assert before.size and late.any()
    if list(state.values())[-1] is MachineState.RUNNING:
        assert w[late].mean() > before.mean() + 15
    else:  # stopped at the end: the heat shows while it ran
        assert w[(ts > e.onset_ns)].max() > before.max() + 10


def test_shifted_conditions_darken_the_camera_views() -> None:
    normal, shifted = CameraScene(64, 0, 0), CameraScene(64, 0, 0, shifted=True)
    a = [normal.render([], np.random.default_rng(i)).mean() for i in range(30)]
    b = [shifted.render([], np.random.default_rng(i)).mean() for i in range(30)]
    assert np.mean(b) < 0.85 * np.mean(a)
