"""The ISA-18.2 state machine: every path, one open alarm per asset and fault, outcomes."""

from __future__ import annotations

import pytest

from plant.alarms import (
    AlarmConflictError,
    AlarmEngine,
    AlarmKind,
    AlarmNotFoundError,
    AlarmState,
    Priority,
)
from tests.alarm_helpers import HIGH, LOW, T0, Clock, Collector, demo_plant, feed, health

S = 1_000_000_000


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def notes() -> Collector:
    return Collector()


@pytest.fixture
def engine(clock: Clock, notes: Collector) -> AlarmEngine:
    return AlarmEngine(demo_plant(), None, clock=clock, notifier=notes)


def state(engine: AlarmEngine, alarm_id: int = 1) -> str:
    return engine.get_alarm(alarm_id)["state"]


def test_raise_ack_clear_is_unack_then_ack_then_normal(engine: AlarmEngine) -> None:
    t = feed(engine, "P-101", T0, [0.5, 0.5])
    assert engine.list_alarms() == []
    t = feed(engine, "P-101", t, LOW)
    assert state(engine) == AlarmState.UNACKNOWLEDGED
    engine.acknowledge(1, "olga", "seen it")
    assert state(engine) == AlarmState.ACKNOWLEDGED
    feed(engine, "P-101", t, HIGH)
    assert state(engine) == AlarmState.NORMAL
    actions = [e["action"] for e in engine.get_alarm(1)["journal"]]
    assert actions == ["raise", "acknowledge", "clear"]


def test_clear_before_ack_is_rtn_unack_then_ack_is_normal(engine: AlarmEngine) -> None:
    t = feed(engine, "P-101", T0, LOW)
    feed(engine, "P-101", t, HIGH)
    assert state(engine) == AlarmState.RTN_UNACKNOWLEDGED
    engine.acknowledge(1, "olga")
    assert state(engine) == AlarmState.NORMAL


def test_journal_entry_carries_who_comment_model_and_p_value(engine: AlarmEngine) -> None:
    t = feed(engine, "P-101", T0, LOW)
    engine.acknowledge(1, "olga", "going to look")
    raise_entry, ack = engine.get_alarm(1)["journal"]
    assert raise_entry["ts_ns"] == t - 300 * S and raise_entry["p_value"] == 0.0001
    assert raise_entry["model_version"] == "model-7" and raise_entry["who"] == "engine"
    assert ack["who"] == "olga" and ack["comment"] == "going to look"
    assert (ack["state_from"], ack["state_to"]) == ("unacknowledged", "acknowledged")


def test_one_open_alarm_per_asset_and_fault_reraise_counts(engine: AlarmEngine) -> None:
    t = feed(engine, "P-101", T0, LOW)
    t = feed(engine, "P-101", t, HIGH)
    t = feed(engine, "P-101", t, LOW)
    alarms = engine.list_alarms()
    assert len(alarms) == 1 and alarms[0]["activations"] == 2
    assert alarms[0]["state"] == AlarmState.UNACKNOWLEDGED
    t = feed(engine, "P-101", t, HIGH)
    feed(engine, "P-101", t, LOW, fault="imbalance")
    sources = sorted(a["source"] for a in engine.list_alarms())
    assert sources == ["bearing_outer", "imbalance"]


def test_shelve_hides_then_expiry_reannunciates(
    engine: AlarmEngine, clock: Clock, notes: Collector
) -> None:
    feed(engine, "P-101", T0, LOW)
    engine.shelve(1, 600, "olga", "known, planned")
    assert state(engine) == AlarmState.SHELVED
    assert engine.counts()["total"] == 0
    clock.advance(599)
    engine.tick()
    assert state(engine) == AlarmState.SHELVED
    raised_before = len(notes.events("raised"))
    clock.advance(2)
    engine.tick()
    assert state(engine) == AlarmState.UNACKNOWLEDGED
    assert len(notes.events("raised")) == raised_before + 1
    assert engine.get_alarm(1)["journal"][-1]["action"] == "shelve_expired"


def test_unshelve_and_shelve_limits(engine: AlarmEngine) -> None:
    t = feed(engine, "P-101", T0, LOW)
    with pytest.raises(AlarmConflictError, match="shelve duration"):
        engine.shelve(1, 10**9, "olga")
    with pytest.raises(AlarmConflictError, match="not shelved"):
        engine.unshelve(1, "olga")
    engine.shelve(1, 60, "olga")
    feed(engine, "P-101", t, HIGH)  # clears while shelved: stays shelved
    assert state(engine) == AlarmState.SHELVED
    engine.unshelve(1, "olga")
    assert state(engine) == AlarmState.RTN_UNACKNOWLEDGED


def test_stopped_machine_suppresses_and_raises_nothing(engine: AlarmEngine) -> None:
    t = feed(engine, "P-101", T0, LOW)
    engine.on_context("P-101", "stopped", t)
    assert state(engine) == AlarmState.SUPPRESSED
    t = feed(engine, "P-101", t, LOW * 10)
    engine.on_context("P-102", "starting", t)
    t = feed(engine, "P-102", t, LOW * 10)
    assert [a["asset"] for a in engine.list_alarms()] == ["P-101"]
    assert engine.list_alarms()[0]["activations"] == 1
    engine.on_context("P-101", "running", t)
    assert state(engine) == AlarmState.RTN_UNACKNOWLEDGED
    feed(engine, "P-101", t, LOW)  # fresh evidence after the restart raises again
    assert state(engine) == AlarmState.UNACKNOWLEDGED


def test_evidence_during_a_load_transient_neither_raises_nor_clears(
    clock: Clock, notes: Collector
) -> None:
    engine = AlarmEngine(demo_plant(), None, clock=clock, notifier=notes)
    assert engine.settings.transient.load_range == 0.15  # the default
    t = feed(engine, "P-101", T0, LOW, load_range=0.4)  # the load stepped within the hour
    t = feed(engine, "P-102", t, LOW, load_range=0.15)  # at the limit: counts
    t = feed(engine, "P-103", t, LOW)  # no thermal history: counts
    assert sorted(a["asset"] for a in engine.list_alarms()) == ["P-102", "P-103"]
    assert engine.transient_events == 3
    t = feed(engine, "P-102", t, HIGH, load_range=0.5)  # a transient does not clear either
    assert engine.get_alarm(1)["state"] == AlarmState.UNACKNOWLEDGED
    t = feed(engine, "P-101", t, LOW, load_range=0.05)  # settled: the same evidence raises
    assert sorted(a["asset"] for a in engine.list_alarms()) == ["P-101", "P-102", "P-103"]
    # hold_s (900 s) after the last transient event: the probes still lag
    assert engine.settings.transient.hold_s == 900
    t = feed(engine, "F-301", t, [0.0001], load_range=0.3)
    t = feed(engine, "F-301", t, LOW, load_range=0.02)  # 300-900 s after it: held
    assert "F-301" not in {a["asset"] for a in engine.list_alarms()}
    feed(engine, "F-301", t, LOW, load_range=0.02)  # past the hold
    assert "F-301" in {a["asset"] for a in engine.list_alarms()}
    off = AlarmEngine(demo_plant(transient={"load_range": 0}), None, clock=clock, notifier=notes)
    feed(off, "P-101", T0, LOW, load_range=0.9)  # 0: the rule is off
    assert [a["asset"] for a in off.list_alarms()] == ["P-101"] and off.transient_events == 0


def test_operator_notes_corroborate_sensor_evidence_but_never_raise_alone(
    clock: Clock, notes: Collector
) -> None:
    """A wrong note ("gbox knocking" on a pump) sits in a day of windows: the window's p-value
    counts only where the sensors alone are at least weakly abnormal."""
    engine = AlarmEngine(demo_plant(), None, clock=clock, notifier=notes)
    rule = engine.settings.persistence
    assert rule.notes_corroborate_alpha == 0.05  # the default: alpha x deadband
    t = feed(engine, "P-101", T0, LOW * 4, p_value_sensors=0.6)  # the note alone: nothing
    t = feed(engine, "P-102", t, LOW, p_value_sensors=0.03)  # sensors lean abnormal: raises
    t = feed(engine, "P-103", t, LOW)  # no notes (nothing to leave out): raises
    assert sorted(a["asset"] for a in engine.list_alarms()) == ["P-102", "P-103"]
    assert engine.uncorroborated_events == 12
    # an open alarm is held by sensor evidence, not by a note: the sensors' p-value counts
    feed(engine, "P-102", t, [0.0001] * 5, p_value_sensors=0.9)
    assert engine.get_alarm(1)["state"] == AlarmState.RTN_UNACKNOWLEDGED
    lenient = AlarmEngine(demo_plant(persistence={"notes_corroborate_alpha": 1.0}), None,
                          clock=clock, notifier=notes)  # fmt: skip
    feed(lenient, "P-101", T0, LOW, p_value_sensors=0.6)  # 1: notes may raise alone
    assert [a["asset"] for a in lenient.list_alarms()] == ["P-101"]


def test_maintenance_takes_out_of_service_then_resets_with_new_baseline(
    engine: AlarmEngine, clock: Clock
) -> None:
    baselines: list[tuple[str, int]] = []
    engine.baseline_listeners.append(lambda a, t: baselines.append((a, t)))
    t = feed(engine, "P-101", T0, [0.0001, 0.0001])
    assert engine.maintenance_start("P-101", "mia", "bearing swap") == 0
    feed(engine, "P-101", T0, LOW)  # the k-of-m restarts: nothing raised in maintenance
    assert engine.list_alarms() == []
    with pytest.raises(AlarmConflictError):
        engine.maintenance_start("P-101", "mia")
    engine.maintenance_end("P-101", "mia")
    assert baselines == [("P-101", clock.now_ns)]
    feed(engine, "P-101", clock.now_ns - 600 * S, LOW)  # late windows from before: ignored
    assert engine.list_alarms() == []
    feed(engine, "P-101", clock.now_ns, LOW)
    assert state(engine) == AlarmState.UNACKNOWLEDGED
    assert t > 0


def test_maintenance_puts_open_alarms_out_of_service(engine: AlarmEngine, clock: Clock) -> None:
    feed(engine, "P-101", T0, LOW)
    assert engine.maintenance_start("P-101", "mia") == 1
    assert state(engine) == AlarmState.OUT_OF_SERVICE
    with pytest.raises(AlarmConflictError, match="out of service"):
        engine.shelve(1, 60, "olga")
    engine.maintenance_end("P-101", "mia")
    assert state(engine) == AlarmState.NORMAL
    assert engine.get_alarm(1)["journal"][-1]["action"] == "maintenance_reset"


def test_close_records_outcome_and_frees_the_key(engine: AlarmEngine) -> None:
    t = feed(engine, "P-101", T0, LOW)
    with pytest.raises(AlarmConflictError, match="fault_class"):
        engine.close_alarm(1, "confirmed_fault", "olga")
    engine.close_alarm(1, "confirmed_fault", "olga", "outer race spall", "bearing_outer")
    closed = engine.get_alarm(1)
    assert closed["closed"] and closed["outcome"] == "confirmed_fault"
    assert closed["outcome_fault"] == "bearing_outer"
    with pytest.raises(AlarmConflictError, match="closed"):
        engine.acknowledge(1, "olga")
    feed(engine, "P-101", t, LOW)  # a new alarm, not the closed one
    assert [a["id"] for a in engine.list_alarms(open=True)] == [2]


def test_unknown_alarm_and_double_ack(engine: AlarmEngine) -> None:
    with pytest.raises(AlarmNotFoundError):
        engine.acknowledge(99, "olga")
    feed(engine, "P-101", T0, LOW)
    engine.acknowledge(1, "olga")
    with pytest.raises(AlarmConflictError, match="already"):
        engine.acknowledge(1, "olga")


def test_priority_from_severity_and_urgency(engine: AlarmEngine) -> None:
    feed(engine, "P-101", T0, LOW, health_score=90)
    feed(engine, "P-102", T0, LOW, health_score=10, fault="lubrication_starvation")
    feed(engine, "G-201", T0, LOW, health_score=30)
    prio = {a["asset"]: a["priority"] for a in engine.list_alarms()}
    assert prio == {"P-101": "low", "P-102": "critical", "G-201": "medium"}
    assert [a["asset"] for a in engine.list_alarms(priority="medium")] == ["G-201", "P-102"]
    assert Priority.parse("high") is Priority.HIGH


def test_notifications_carry_link_and_asset_state(engine: AlarmEngine, notes: Collector) -> None:
    feed(engine, "P-101", T0, LOW, explanation={"vibration": 0.7, "thermal": 0.2, "notes": 0.0})
    (note,) = notes.events("raised")
    assert note.link == "http://127.0.0.1:8050/alarm/1"
    assert note.alarm["top_modalities"] == ["vibration", "thermal"]
    assert "P-101" in note.summary() and "vibration" in note.summary()
    assert [a["id"] for a in note.asset_alarms] == [1]


def test_unknown_asset_is_ignored_not_raised(engine: AlarmEngine) -> None:
    feed(engine, "NOPE-1", T0, LOW * 3)
    assert engine.list_alarms() == []
    assert engine.health()["NOPE-1"]["p_value"] == 0.0001
    assert AlarmKind.MACHINE.value == "machine"


def test_latest_health_per_asset(engine: AlarmEngine) -> None:
    engine.on_health(health("P-101", T0, 0.4))
    engine.on_health(health("P-101", T0 + S, 0.3, health_score=55))
    assert engine.health()["P-101"]["health"] == 55 and engine.health()["P-101"]["ts_ns"] == T0 + S


def test_priority_escalates_while_the_alarm_stands(engine: AlarmEngine, notes: Collector) -> None:
    t = feed(engine, "P-101", T0, LOW, health_score=90)
    assert engine.get_alarm(1)["priority"] == "low"
    t = feed(engine, "P-101", t, [0.0001], health_score=30)
    t = feed(engine, "P-101", t, [0.0001], health_score=50)  # better again: never lowered
    feed(engine, "P-101", t, [0.0001], health_score=10)
    doc = engine.get_alarm(1)
    assert doc["priority"] == "high" and doc["health"] == 10
    escalations = [e["detail"]["priority"] for e in doc["journal"] if e["action"] == "escalate"]
    assert escalations == ["medium", "high"]
    assert [n.alarm["priority"] for n in notes.events("escalated")] == ["medium", "high"]


def test_suppression_survives_a_restart(tmp_path) -> None:
    path = tmp_path / "alarms.sqlite"
    engine = AlarmEngine(demo_plant(), path, clock=Clock())
    t = feed(engine, "P-101", T0, LOW)
    engine.on_context("P-101", "stopped", t)
    engine.close()
    again = AlarmEngine(demo_plant(), path, clock=Clock())
    assert again.get_alarm(1)["state"] == AlarmState.SUPPRESSED
    feed(again, "P-101", t, LOW)  # still stopped: nothing counts
    assert again.get_alarm(1)["activations"] == 1
    again.on_context("P-101", "running", t)
    assert again.get_alarm(1)["state"] == AlarmState.RTN_UNACKNOWLEDGED
    again.close()


def test_one_alarm_out_of_service_and_back(engine: AlarmEngine, notes: Collector) -> None:
    t = feed(engine, "P-101", T0, LOW)
    engine.set_out_of_service(1, True, "erik", "transmitter replaced next week")
    assert state(engine) == AlarmState.OUT_OF_SERVICE
    with pytest.raises(AlarmConflictError, match="already out of service"):
        engine.set_out_of_service(1, True, "erik")
    t = feed(engine, "P-101", t, HIGH)
    raised = len(notes.events("raised"))
    t = feed(engine, "P-101", t, LOW)  # re-raised while out of service: journaled, not annunciated
    assert len(notes.events("raised")) == raised
    assert engine.get_alarm(1)["activations"] == 2
    engine.set_out_of_service(1, False, "erik")
    assert state(engine) == AlarmState.UNACKNOWLEDGED
    assert len(notes.events("raised")) == raised + 1
