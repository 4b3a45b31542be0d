"""Simulated thermal and notes against real data; the fault table, from the code.

    .venv/bin/python benchmarks/simulator_realism.py [--no-write]

1. Thermal: the run-to-failure temperature rise of the four PRONOSTIA bearings
   (../shared/data/thermal-temperature, FEMTO-ST, IEEE PHM 2012) against the simulator's bearing
   probe through lubrication-starvation and bearing-fault episodes at constant load and ambient:
   the share of the total rise reached at fixed fractions of life, the total rise, the noise.
2. Notes: simulated shift-log notes against the real MaintNorm raw maintenance texts
   (../shared/data/maintenance-text): abbreviation use and overlap, tokens per note, token
   length, out-of-vocabulary rate (with MaintNorm's own test-vs-train OOV as the yardstick).
3. The fault table (plant.sim.faults) as markdown.

Tables are rewritten in docs/SIMULATOR.md between the ``fault_table`` and
``simulator_realism`` BEGIN/END markers. The datasets are not linked to each other or to the
simulator: these are distribution comparisons, not pairings.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import re
from pathlib import Path

import numpy as np
from scipy.optimize import curve_fit
from simulator_realism_data import (
    maintnorm_texts,
    pronostia_series,
    simulated_notes,
    simulated_rise_curves,
)

from plant.sim.faults import FAULT_TABLE
from plant.sim.notes import FIRST, LAST
from plant.sim.thermal import PROBE_KINDS

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"
DOC = REPO / "docs" / "SIMULATOR.md"
LIFE = (0.25, 0.5, 0.75, 0.9, 1.0)
TOKEN = re.compile(r"[a-z0-9/&+-]+")
MASKED = re.compile(r"^<\w+>$")
ID = re.compile(r"^[a-z]{1,3}-?\d{2,}[a-z]?$")  # asset ids: MaintNorm masks them as <id>
NAMES = {n.lower() for n in FIRST + LAST}


def rise_fractions(t: np.ndarray, temp_c: np.ndarray) -> list[float]:
    """Share of the total rise (from the first 5 % of life) reached at each fraction of LIFE."""
    life = (t - t[0]) / (t[-1] - t[0])
    n0 = max(1, int(0.05 * len(t)))
    base, top = temp_c[:n0].mean(), temp_c[-n0:].mean()
    return [float((temp_c[np.abs(life - f).argmin()] - base) / max(top - base, 1e-9)) for f in LIFE]


def warmup_tau_min(t_s: np.ndarray, temp_c: np.ndarray) -> float:
    """First-order time constant fitted to the first 90 minutes (the start-up transient)."""
    keep = (t_s - t_s[0]) <= 90 * 60
    x, y = (t_s[keep] - t_s[0]) / 60.0, temp_c[keep]

    def model(x: np.ndarray, t_inf: float, amp: float, tau: float) -> np.ndarray:
        return t_inf - amp * np.exp(-x / tau)

    try:
        (_, _, tau), _ = curve_fit(model, x, y, p0=(y[-1], y[-1] - y[0], 20.0), maxfev=20_000)
    except RuntimeError:
        return float("nan")
    return float(tau)


def _row(label: str, life: str, t_s: np.ndarray, temp_c: np.ndarray, noise: float, tau: str) -> str:
    n = max(1, len(t_s) // 20)
    rise = temp_c[-n:].mean() - temp_c[:n].mean()
    fr = " | ".join(f"{x:.2f}" for x in rise_fractions(t_s, temp_c))
    return f"| {label} | {life} | {rise:.1f} | {fr} | {noise:.3f} | {tau} |"


def thermal_table() -> list[str]:
    rows = [
        "| source | life | total rise (°C) | "
        + " | ".join(f"rise at {f:.0%}" for f in LIFE)
        + " | noise (°C, per sample) | start-up time constant (min) |",
        "|---" * (5 + len(LIFE)) + "|",
    ]
    for name, (t_s, temp_c, noise) in pronostia_series(DATA).items():
        life = f"{(t_s[-1] - t_s[0]) / 3600:.1f} h"
        tau = f"{warmup_tau_min(t_s, temp_c):.0f} (fit)"
        rows.append(_row(f"PRONOSTIA {name}", life, t_s, temp_c, noise, tau))
    taus = "–".join(f"{x:.0f}" for x in PROBE_KINDS["bearing"][0]) + " (model)"
    for label, (t_s, temp_c, noise) in simulated_rise_curves().items():
        life = f"{(t_s[-1] - t_s[0]) / 86400:.1f} d"
        rows.append(_row(f"simulated {label}", life, t_s, temp_c, noise, taus))
    return rows


def _tokens(text: str) -> list[str]:
    return TOKEN.findall(text.lower())


def notes_table(n_notes: int) -> list[str]:
    real = maintnorm_texts(DATA)  # [(raw tokens, normalised tokens)] per text
    abbrev = collections.Counter(
        r.lower()
        for raw, norm in real["train"]
        for r, n in zip(raw, norm, strict=True)
        if r.lower() != n.lower() and not MASKED.match(n) and any(c.isalpha() for c in r)
    )
    vocab = {t for raw, _ in real["train"] for r in raw for t in _tokens(r)}
    sim_texts = simulated_notes(n_notes)
    sim_tok = [_tokens(t) for t in sim_texts]
    real_tok = [[t for r in raw for t in _tokens(r)] for raw, _ in real["test"]]
    sim_abbrev = collections.Counter(t for toks in sim_tok for t in toks if t in abbrev)
    shared = set(sim_abbrev)

    def stats(toks: list[list[str]], texts: list[str]) -> dict[str, float]:
        flat = [t for x in toks for t in x]
        words = [t for t in flat if not t.isdigit() and not ID.match(t) and t not in NAMES]
        return {
            "notes": len(toks),
            "tokens per note (median)": float(np.median([len(x) for x in toks])),
            "tokens per note (p90)": float(np.percentile([len(x) for x in toks], 90)),
            "characters per token (mean)": float(np.mean([len(t) for t in flat])),
            "share of tokens that are MaintNorm abbreviations/variants": sum(
                t in abbrev for t in flat
            )
            / len(flat),
            "out-of-vocabulary rate vs MaintNorm train (ids, names, numbers aside)": sum(
                t not in vocab for t in words
            )
            / len(words),
            "notes in capitals": sum(x.isupper() for x in texts) / len(texts),
        }

    s_real = stats(real_tok, [" ".join(raw) for raw, _ in real["test"]])
    s_sim = stats(sim_tok, sim_texts)
    rows = ["| measure | MaintNorm raw (test split) | simulated notes |", "|---|---|---|"]
    for k in s_real:
        fmt = "{:.0f}" if k == "notes" else "{:.3f}"
        rows.append(f"| {k} | {fmt.format(s_real[k])} | {fmt.format(s_sim[k])} |")
    top = [a for a, _ in abbrev.most_common(40)]
    rows += [
        "",
        f"MaintNorm's 40 most frequent abbreviations/variants: {', '.join(top)}.",
        f"Of those, used by the simulated notes: {', '.join(a for a in top if a in shared)}.",
        "Simulated abbreviations also found as MaintNorm variants (frequency in simulated notes): "
        + ", ".join(f"{a} ({n})" for a, n in sim_abbrev.most_common(20))
        + ".",
    ]
    return rows


def fault_table() -> list[str]:
    mods = ("vibration", "thermal", "camera")
    rows = [
        "| fault | asset types | primary | onset (P) severity | vibration | thermal | camera | "
        "notes: noticed from severity (share of episodes ever noted) | degradation (x "
        "degradation_days) | growth exponent | heat at visibility 1 | camera defect |",
        "|---" * 12 + "|",
    ]
    for f, s in FAULT_TABLE.items():
        signs = []
        for m in mods:
            sign = next((v for k, v in s.signs.items() if k.value == m), None)
            signs.append(f"{sign.gain:.2f} from s={sign.onset:.2f}" if sign else "–")
        notes = (
            f"{s.notice_severity:.2f} ({s.p_noted:.0%})" if s.notice_severity is not None else "–"
        )
        heat = ", ".join(f"{k} +{v:.0f} °C" for k, v in s.heat.items()) or "–"
        mech = f" (as {s.vibration_mechanism.value})" if s.vibration_mechanism else ""
        signs[0] += mech if signs[0] != "–" else ""
        types = ", ".join(sorted(t.value for t in s.asset_types))
        rows.append(
            f"| {f.value} | {types} | **{s.primary.value}** | {s.onset_severity:.2f} | "
            f"{' | '.join(signs)} | {notes} | "
            f"{s.duration_factor[0]}–{s.duration_factor[1]} | {s.growth_exponent} | {heat} | "
            f"{s.camera_defect or '–'} |"
        )
    return rows


def write_block(doc: str, name: str, text: str) -> str:
    """``doc`` with ``text`` between the BEGIN/END markers called ``name`` (appended if absent)."""
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    if begin not in doc:
        doc = doc.rstrip("\n") + f"\n\n{begin}\n{end}\n"
    head, rest = doc.split(begin, 1)
    return f"{head}{begin}\n{text}\n{end}{rest.split(end, 1)[1]}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--no-write", action="store_true", help="print only")
    p.add_argument("--notes", type=int, default=4000, help="simulated notes to compare")
    args = p.parse_args()
    if not DATA.is_dir():
        raise SystemExit(f"real datasets not found at {DATA} (they live beside the project)")
    stamp = f"Generated by `benchmarks/simulator_realism.py` on {dt.date.today()}."
    faults = "\n".join([stamp, "", *fault_table()])
    realism = "\n".join(
        [
            stamp,
            "",
            "### Thermal: run-to-failure temperature rise",
            "",
            *thermal_table(),
            "",
            "### Notes against real maintenance texts",
            "",
            *notes_table(args.notes),
        ]
    )
    print(faults, realism, sep="\n\n")
    if not args.no_write:
        doc = write_block(DOC.read_text(), "fault_table", faults)
        DOC.write_text(write_block(doc, "simulator_realism", realism))


if __name__ == "__main__":
    main()
