"""Flood grouping, data-quality vs machine alarms, silent sensors and a silent chain, restarts."""

from __future__ import annotations

from pathlib import Path

from plant.alarms import AlarmEngine, AlarmKind, AlarmState
from plant.config import PlantConfig
from tests.alarm_helpers import HIGH, LOW, T0, Clock, Collector, demo_plant, feed

S = 1_000_000_000


def big_plant() -> PlantConfig:
    return demo_plant().multiplied(5)  # 15 assets in the pump house


def test_more_than_ten_alarms_in_ten_minutes_in_an_area_is_a_flood() -> None:
    notes = Collector()
    config = big_plant()
    engine = AlarmEngine(config, None, clock=Clock(), notifier=notes)
    pumps = [a.id for a in config.resolved_assets if a.area == "pumphouse"][:13]
    for i, asset in enumerate(pumps):
        feed(engine, asset, T0 + i * 30 * S, LOW)
    floods = engine.list_alarms(kind="flood")
    assert len(floods) == 1 and floods[0]["area"] == "pumphouse"
    machine = engine.list_alarms(kind="machine")
    assert len(machine) == 13  # every alarm is still there, journaled
    assert floods[0]["members"] == sorted(a["id"] for a in machine)[10:]
    sent = notes.events("raised")
    assert [n.grouped for n in sent] == [False] * 10 + [True] * 3  # the 11th starts it
    assert len(notes.events("flood")) == 1
    assert engine.counts()["flooding"] == ["pumphouse"]
    # Another area is not in flood.
    util = next(a.id for a in config.resolved_assets if a.area == "utilities")
    feed(engine, util, T0 + 500 * S, LOW)
    assert not notes.events("raised")[-1].grouped
    # Ten minutes later the window is empty: the flood ends.
    engine.tick(T0 + 13 * 30 * S + 1300 * S)
    assert engine.list_alarms(kind="flood")[0]["state"] == AlarmState.RTN_UNACKNOWLEDGED
    assert engine.counts()["flooding"] == []
    assert len(notes.events("flood_end")) == 1


def test_ten_alarms_spread_out_are_no_flood() -> None:
    config = big_plant()
    engine = AlarmEngine(config, None, clock=Clock())
    pumps = [a.id for a in config.resolved_assets if a.area == "pumphouse"][:14]
    for i, asset in enumerate(pumps):
        feed(engine, asset, T0 + i * 120 * S, LOW)  # 5 per 10 minutes
    assert engine.list_alarms(kind="flood") == []


def test_stuck_sensor_is_a_data_quality_alarm_not_a_machine_alarm() -> None:
    engine = AlarmEngine(demo_plant(), None, clock=Clock())
    engine.on_data_quality("P-101", "vib-de", "stuck", T0)
    (dq,) = engine.list_alarms()
    assert dq["kind"] == "data_quality" and dq["source"] == "vib-de/stuck"
    vib = {"vibration": 0.9, "thermal": 0.05}
    t = feed(engine, "P-101", T0, LOW * 4, explanation=vib)
    assert engine.list_alarms(kind="machine") == []
    # Evidence from another modality still raises a machine alarm.
    t = feed(engine, "P-101", t, LOW, explanation={"vibration": 0.1, "thermal": 0.8})
    assert len(engine.list_alarms(kind="machine")) == 1
    engine.on_data_quality("P-101", "vib-de", "stuck", t, active=False)
    assert engine.get_alarm(dq["id"])["state"] == AlarmState.RTN_UNACKNOWLEDGED


def test_without_explanation_a_faulty_modality_present_blocks_machine_alarms() -> None:
    engine = AlarmEngine(demo_plant(), None, clock=Clock())
    engine.on_data_quality("P-101", "temp", "saturated", T0)
    feed(engine, "P-101", T0, LOW * 3)
    assert [a["kind"] for a in engine.list_alarms()] == ["data_quality"]


def test_silent_sensor_raises_its_own_alarm_and_clears_on_reading() -> None:
    config = demo_plant()
    engine = AlarmEngine(config, None, clock=Clock())
    p101 = config.asset("P-101")
    assert p101 is not None
    engine.tick(T0)
    for step in range(40):  # 400 s of readings from every sensor but P-101's thermal module
        ts = T0 + step * 10 * S
        for asset in config.resolved_assets:
            for sensor in asset.sensors:
                if (asset.id, sensor.id) != ("P-101", "temp"):
                    engine.on_reading(asset.id, sensor.id, ts)
        engine.tick(ts)
    silent = engine.list_alarms(kind="silent_sensor")
    assert [(a["asset"], a["source"]) for a in silent] == [("P-101", "temp")]
    engine.on_reading("P-101", "temp", T0 + 401 * S)
    assert engine.list_alarms(kind="silent_sensor")[0]["state"] == "rtn_unacknowledged"


def test_silent_chain_when_no_health_arrives_and_clears_on_health() -> None:
    engine = AlarmEngine(demo_plant(), None)
    engine.tick(T0)
    engine.tick(T0 + 200 * S)
    assert engine.list_alarms() == []
    engine.tick(T0 + 301 * S)
    (chain,) = engine.list_alarms()
    assert chain["kind"] == AlarmKind.SILENT_CHAIN and chain["area"] == "system"
    assert "no readings and no health" in engine.get_alarm(chain["id"])["journal"][0]["comment"]
    feed(engine, "P-101", T0 + 302 * S, [0.5])
    assert engine.get_alarm(chain["id"])["state"] == AlarmState.RTN_UNACKNOWLEDGED


def test_scorer_reported_offline_raises_chain_alarm() -> None:
    engine = AlarmEngine(demo_plant(), None, clock=Clock())
    engine.on_silence("scorer", True)
    engine.on_silence("scorer", True)
    (alarm,) = engine.list_alarms()
    assert alarm["asset"] == "scorer" and alarm["priority"] == "high"
    engine.on_silence("scorer", False)
    assert engine.get_alarm(alarm["id"])["state"] == AlarmState.RTN_UNACKNOWLEDGED


def test_alarms_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "alarms.sqlite"
    clock = Clock()
    engine = AlarmEngine(demo_plant(), path, clock=clock)
    t = feed(engine, "P-101", T0, LOW)
    feed(engine, "P-102", T0, LOW)
    engine.acknowledge(1, "olga", "seen")
    engine.shelve(2, 3600, "olga")
    engine.maintenance_start("G-201", "mia")
    engine.close()

    again = AlarmEngine(demo_plant(), path, clock=clock)
    assert [a["state"] for a in again.list_alarms()] == ["shelved", "acknowledged"]
    assert [e["action"] for e in again.get_alarm(1)["journal"]] == ["raise", "acknowledge"]
    assert again.counts()["in_maintenance"] == ["G-201"]
    feed(again, "P-101", t, HIGH)  # the restored alarm is the one that clears
    assert again.get_alarm(1)["state"] == AlarmState.NORMAL
    feed(again, "C-401", T0, LOW)
    assert again.list_alarms()[0]["id"] == 3  # ids continue
    again.close()
    assert (tmp_path / "alarms.sqlite-wal").exists() or path.stat().st_size > 0


def test_journal_is_in_wal_mode(tmp_path: Path) -> None:
    import sqlite3

    engine = AlarmEngine(demo_plant(), tmp_path / "j.sqlite")
    feed(engine, "P-101", T0, LOW)
    with sqlite3.connect(tmp_path / "j.sqlite") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT COUNT(*) FROM journal").fetchone()[0] == 1
    engine.close()


def test_replay_is_fast_with_batched_journal(tmp_path: Path) -> None:
    import time

    from tests.alarm_helpers import health

    config = demo_plant()
    engine = AlarmEngine(config, tmp_path / "replay.sqlite", batch=10_000)
    assets = [a.id for a in config.resolved_assets]
    events = [health(assets[i % 6], T0 + i * S, 0.5 if i % 97 else 0.0001) for i in range(60_000)]
    start = time.perf_counter()
    for ev in events:
        engine.on_health(ev)
    engine.flush()
    rate = len(events) / (time.perf_counter() - start)
    # >= 100k/s on a quiet core (benchmarks/alarm_replay.py); a loose floor for a shared CI box.
    assert rate > 25_000, rate
    engine.close()
