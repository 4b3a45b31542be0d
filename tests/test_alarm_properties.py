"""Property test: any sequence of evidence and operator actions keeps the alarm store consistent.

Invariants after every step: one open alarm per (kind, asset, source); each alarm's last journal
entry ends in its current state; a suppressed or out-of-service machine alarm is never active;
and a restart from the journal reproduces every alarm exactly.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plant.alarms import AlarmConflictError, AlarmEngine, AlarmNotFoundError
from tests.alarm_helpers import T0, Clock, demo_plant, health

S = 1_000_000_000
ASSETS = ("P-101", "P-102")
# Evidence is weighted up so that most sequences raise alarms the actions can then act on.
KINDS = ["low"] * 6 + ["high"] * 2 + ["ack"] * 3 + ["shelve", "unshelve", "wait", "stop", "run"]
KINDS += ["maint_start", "maint_end", "close", "dq", "dq_ok", "oos", "rts"]
ACTIONS = st.lists(
    st.tuples(st.sampled_from(KINDS), st.sampled_from(ASSETS), st.integers(1, 3)),
    min_size=10,
    max_size=80,
)


def apply(engine: AlarmEngine, clock: Clock, action: str, asset: str, n: int) -> None:
    now = clock.advance(300)
    try:
        if action in ("low", "high"):
            p = 1e-4 if action == "low" else 0.9
            engine.on_health(
                health(asset, now, p, fault="imbalance" if n == 3 else "bearing_outer")
            )
        elif action == "ack":
            engine.acknowledge(n, "olga")
        elif action == "shelve":
            engine.shelve(n, 600, "olga")
        elif action == "unshelve":
            engine.unshelve(n, "olga")
        elif action == "wait":
            engine.tick(clock.advance(400))
        elif action in ("stop", "run"):
            engine.on_context(asset, "stopped" if action == "stop" else "running", now)
        elif action == "maint_start":
            engine.maintenance_start(asset, "mia")
        elif action == "maint_end":
            engine.maintenance_end(asset, "mia")
        elif action in ("oos", "rts"):
            engine.set_out_of_service(n, action == "oos", "erik")
        elif action == "close":
            engine.close_alarm(n, "false_alarm", "olga")
        elif action in ("dq", "dq_ok"):
            engine.on_data_quality(asset, "vib-de", "stuck", now, active=action == "dq")
    except (AlarmConflictError, AlarmNotFoundError):
        pass  # refused actions change nothing; the invariants check that too


def check(engine: AlarmEngine) -> None:
    alarms = engine.list_alarms()
    keys = [(a["kind"], a["asset"], a["source"]) for a in alarms if not a["closed"]]
    assert len(keys) == len(set(keys))
    for a in alarms:
        journal = engine.get_alarm(a["id"])["journal"]
        assert journal[-1]["state_to"] == a["state"], (a, journal[-1])
        if a["kind"] == "machine" and (a["suppressed"] or a["out_of_service"]):
            assert not a["active"] or a["out_of_service"]
        if a["suppressed"]:
            assert not a["active"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ACTIONS)
def test_any_sequence_keeps_alarms_consistent_and_restorable(actions: list) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "alarms.sqlite"
        clock = Clock(T0)
        engine = AlarmEngine(demo_plant(), path, clock=clock)
        for action, asset, n in actions:
            apply(engine, clock, action, asset, n)
            check(engine)
        before = engine.list_alarms()
        engine.close()
        again = AlarmEngine(demo_plant(), path, clock=clock)
        assert again.list_alarms() == before
        again.close()
