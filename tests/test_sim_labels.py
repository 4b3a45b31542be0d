"""Labels agree with the readings, and notes say only what an operator could have noticed."""

from __future__ import annotations

import collections
import re

import pytest

from plant.readings import ContextReading, MachineState, OperatorNote
from plant.sim.faults import FAULT_TABLE
from plant.sim.plant import PlantSimulator
from tests.test_sim_support import DAY_NS, START_NS, plant

DAYS = 6
SIM = "faults_per_asset_year = 120\ndegradation_days = [0.5, 1.5]\nstops_per_week = 2"
PHONE = re.compile(r"\b04\d\d \d{3} \d{3}\b")


@pytest.fixture(scope="module")
def run() -> tuple[PlantSimulator, list]:
    config = plant([("P", "motor-pump", 15), ("F", "fan", 15)], profile="notes", simulation=SIM)
    sim = PlantSimulator(config, 8, START_NS)
    return sim, list(sim.readings(START_NS + DAYS * DAY_NS))


def test_notes_never_mention_a_fault_before_it_is_noticeable(run) -> None:
    sim, _ = run
    checked = 0
    for a in sim.assets:
        for t in a.note_truth:
            if t.kind != "fault":
                continue
            match = [
                f
                for f in a.faults.scheduled
                if f.spec.fault is t.fault and f.episode.onset_ns < t.ts_ns < f.episode.repair_ns
            ]
            assert match, f"{a.asset.id}: note about {t.fault} with no such fault at {t.ts_ns}"
            f = match[0]
            assert f.noted
            assert float(f.episode.severity(t.ts_ns)) >= f.spec.notice_severity
            checked += 1
        for t in a.note_truth:  # "wrong" notes never name a fault that is really developing
            if t.kind == "wrong":
                assert all(
                    not (f.episode.onset_ns < t.ts_ns < f.episode.repair_ns)
                    for f in a.faults.scheduled
                    if f.spec.fault is t.fault
                )
    assert checked >= 10


def test_some_faults_are_never_noted(run) -> None:
    sim, _ = run
    unnoted = [f for a in sim.assets for f in a.faults.scheduled if not f.noted]
    assert unnoted
    for f in unnoted:
        assert "notes" not in {m.value for m in f.episode.visible_in}
    never_noticeable = [f for f in FAULT_TABLE.values() if f.notice_severity is None]
    assert never_noticeable  # e.g. a casing crack: nobody hears or feels it


def test_notes_read_like_a_shift_log(run) -> None:
    sim, readings = run
    notes = [r for r in readings if isinstance(r, OperatorNote)]
    kinds = collections.Counter(t.kind for a in sim.assets for t in a.note_truth)
    total = sum(kinds.values())
    assert kinds["routine"] / total > 0.5  # most notes are routine
    assert kinds["vague"] > 0 and kinds["wrong"] > 0 and kinds["fault"] > 0
    words = collections.Counter(w for n in notes for w in n.text.lower().split())
    for abbreviation in ("brg", "chk", "c/o", "vib", "temp", "lube"):
        assert any(abbreviation in w for w in words), abbreviation
    with_phone = sum(bool(PHONE.search(n.text)) for n in notes) / len(notes)
    assert 0.005 < with_phone < 0.1
    assert sum(n.text.isupper() for n in notes) > len(notes) // 10  # some in capitals
    assert sum(bool(n.author) for n in notes) > len(notes) // 2


def test_machine_is_in_maintenance_from_failure_to_repair_only(run) -> None:
    sim, readings = run
    ctx = collections.defaultdict(list)
    for r in readings:
        if isinstance(r, ContextReading):
            ctx[r.header.asset].append((r.header.ts_ns, r.state))
    episodes = sim.episodes
    assert len(episodes) > 10
    skew = 60 * 10**9  # header clocks are skewed by seconds
    for asset, series in ctx.items():
        mine = [e for e in episodes if e.asset == asset]
        for ts, state in series:
            repairing = any(e.failure_ns + skew < ts < e.repair_ns - skew for e in mine)
            near = any(abs(ts - e.failure_ns) < skew or abs(ts - e.repair_ns) < skew for e in mine)
            if not near:
                assert (state is MachineState.MAINTENANCE) == repairing, (asset, ts, state)
    for e in episodes:
        assert e.primary in e.visible_in
        # an episode starts at its fault's onset size (the P point) and grows to 1 at failure
        assert abs(float(e.severity(e.onset_ns + 1)) - e.onset_severity) < 1e-3
        assert e.onset_severity == FAULT_TABLE[e.fault].onset_severity > 0
        assert float(e.severity(e.failure_ns)) == 1 and float(e.severity(e.onset_ns)) == 0
