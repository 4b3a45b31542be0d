"""Operator notes in shift-log language, written only from what a person could have noticed.

The style follows real maintenance short texts (MaintNorm, MaintIE in ../shared/data): terse,
abbreviated (DE/NDE brg, vib, temp, u/s, c/o, w/o, lube, chk, insp, repl), sometimes all caps,
with typos and units. Most notes are routine; some are vague; some are wrong (a fault that is not
there, or the wrong one). A fault is mentioned only once its severity is past the fault table's
``notice_severity`` and only if the episode is one that gets noted at all. Some notes name a
colleague or carry a phone number, as real logs do (ingest redacts them).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from plant.labels import FaultClass
from plant.sim.episodes import ScheduledFault

F = FaultClass
FAULT_PHRASES: dict[FaultClass, tuple[str, ...]] = {
    F.BEARING_OUTER: ("{b} brg noisy", "rumbling from {b} brg", "{b} brg growling, vib {v} mm/s"),
    F.BEARING_INNER: ("grinding noise {b} brg", "{b} brg noisy, chk vib", "{b} brg rough"),
    F.BEARING_BALL: ("intermittent knock {b} brg", "{b} brg noise on/off", "clicking at {b} brg"),
    F.IMBALANCE: ("high vib felt on handrail", "shaking at full speed, vib {v} mm/s"),
    F.MISALIGNMENT: ("coupling hot, poss misalignment", "high axial vib at cplg"),
    F.LOOSENESS: ("rattle from base", "hold down bolt loose", "baseplate rattling, chk bolts"),
    F.GEAR_TOOTH: ("gbox knocking", "gbox whine louder than usual", "gearbox noisy, chk oil"),
    F.LUBRICATION_STARVATION: (
        "{b} brg hot to touch, smell of hot oil",
        "brg screeching, needs lube",
        "{b} brg temp {t}C, grease dry",
        "lube starved {b} brg? noisy + hot",
    ),
    F.COOLING_FAILURE: ("mtr hot to touch", "mtr fan cowl blocked w/ dust", "winding temp {t}C"),
    F.OIL_LEAK: ("oil leak under gbox", "drip tray full of oil", "weeping oil at seal"),
    F.CORROSION: ("rust on casing", "paint flaking, corrosion on base"),
    F.MISSING_GUARD: ("cplg guard missing", "guard not refitted after PM", "guard off, tagged"),
    F.SEAL_WEAR: ("mech seal weeping", "small leak at gland", "slight noise + drip at seal"),
}
ROUTINE = (
    "rounds done all ok",
    "running normal no issues",
    "chk {b} brg temp ok {t}C",
    "vib route done nil abnormal",
    "greased {b} brg",
    "lube oil lvl ok",
    "area housekeeping done",
    "filter c/o done",
    "insp cplg guard ok",
    "seal flush chk ok",
    "oil sample taken",
    "running ok, load {l}%",
    "PM insp complete, no defects",
    "500hr svce done",
    "1000h mech insp nil defects",
    "repl lube filter",
    "insp {b} brg ok",
    "c/o oil filter",
)
STOPPED = ("stopped for process", "u/s awaiting prod", "off line, standby")
MAINTENANCE = (
    "isolated for repairs, LOTO applied",
    "w/o raised, fitters on job",
    "repl brg in prog",
)
VAGUE = ("sounds diff today?", "not right, chk next shift", "noise?", "keep an eye on it")
FIRST = ("Dave", "Mick", "Sarah", "Tom", "Priya", "Jono", "Kev", "Lena", "Raj", "Bec")
LAST = ("Smith", "Nguyen", "O'Brien", "Kowalski", "Patel", "Jones", "Brown", "Singh")
SEVERE = (" v bad", " getting worse", " urgent", "!!")


@dataclasses.dataclass(frozen=True, slots=True)
class NoteTruth:
    """What a note was generated from (ground truth beside the text)."""

    ts_ns: int
    kind: str  # routine | state | fault | vague | wrong
    fault: FaultClass | None


def noticeable(f: ScheduledFault, ts_ns: int) -> bool:
    """Could an operator have noticed this fault by ``ts_ns``?"""
    s = f.spec.notice_severity
    return f.noted and s is not None and float(f.episode.severity(ts_ns)) >= s


class NoteWriter:
    """Writes one asset's shift-log entries."""

    def __init__(self, asset_id: str) -> None:
        self.asset_id = asset_id

    def write(
        self,
        ts_ns: int,
        state: str,
        faults: list[ScheduledFault],
        temps_c: dict[str, float],
        load_fraction: float,
        rng: np.random.Generator,
    ) -> tuple[str, str, NoteTruth]:
        """(text, author, truth) for a note written at ``ts_ns``."""
        seen = [f for f in faults if noticeable(f, ts_ns)]
        kind, fault, text = self._content(state, seen, {f.spec.fault for f in faults}, rng)
        slots = {
            "b": "DE" if rng.random() < 0.6 else "NDE",
            "t": f"{max(temps_c.values(), default=45.0) + rng.normal(0, 2):.0f}",
            "v": f"{rng.uniform(2.5, 11.0):.1f}",
            "l": f"{100 * load_fraction:.0f}",
        }
        text = text.format(**slots)
        if kind == "fault" and rng.random() < 0.3:
            text += str(rng.choice(SEVERE))
        text = self._decorate(text, rng)
        author = f"{rng.choice(FIRST)} {rng.choice(LAST)}" if rng.random() < 0.7 else ""
        return text, author, NoteTruth(ts_ns, kind, fault)

    def _content(
        self,
        state: str,
        seen: list[ScheduledFault],
        active: set[FaultClass],
        rng: np.random.Generator,
    ) -> tuple[str, FaultClass | None, str]:
        u = rng.random()
        if state == "maintenance":
            return "state", None, str(rng.choice(MAINTENANCE))
        if state in ("stopped", "starting") and u < 0.6:
            return "state", None, str(rng.choice(STOPPED))
        if seen and u < 0.75:
            f = seen[int(rng.integers(len(seen)))].spec.fault
            return "fault", f, str(rng.choice(FAULT_PHRASES[f]))
        if seen and u < 0.85:
            return "vague", None, str(rng.choice(VAGUE))
        if u < 0.04:  # wrong: a fault that is not there (nor developing unseen)
            options = [f for f in FAULT_PHRASES if f not in active]
            f = options[int(rng.integers(len(options)))]
            return "wrong", f, str(rng.choice(FAULT_PHRASES[f]))
        if u < 0.08:
            return "vague", None, str(rng.choice(VAGUE))
        return "routine", None, str(rng.choice(ROUTINE))

    def _decorate(self, text: str, rng: np.random.Generator) -> str:
        if rng.random() < 0.3:
            text = f"{self.asset_id} {text}"
        if rng.random() < 0.08:
            who = f"{rng.choice(FIRST)}"
            phone = f"04{rng.integers(10, 99)} {rng.integers(100, 999)} {rng.integers(100, 999)}"
            text += str(rng.choice([f", rang {who} on {phone}", f" - per {who}", f" ph {phone}"]))
        if rng.random() < 0.15:
            text = typo(text, rng)
        if rng.random() < 0.3:
            text = text.upper()
        return text


def typo(text: str, rng: np.random.Generator) -> str:
    """One typing slip in a word of 4+ letters: a swap, a dropped or a doubled letter."""
    words = text.split(" ")
    idx = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    if not idx:
        return text
    i = idx[int(rng.integers(len(idx)))]
    w = words[i]
    j = int(rng.integers(1, len(w) - 1))
    match int(rng.integers(3)):
        case 0:
            w = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
        case 1:
            w = w[:j] + w[j + 1 :]
        case _:
            w = w[:j] + w[j] + w[j:]
    words[i] = w
    return " ".join(words)
