"""Redaction of personal data, measured on real maintenance texts (MaintNorm and MaintIE, see
../shared/data/maintenance-text/PROVENANCE.md) with names, phone numbers and e-mail addresses
planted in them; real technical tokens (part numbers, pressures, pump ids, dates) must survive."""

from __future__ import annotations

import json
import random
import zlib
from pathlib import Path

import pytest

from ingest.redact import GIVEN_NAMES, find, redact

# Given names the redactor's list holds, and ones it does not (only context can find those).
KNOWN_FIRST = ["John", "Sarah", "Mick", "Dave", "Karen", "Troy", "Leanne", "Shane", "Kylie"]
UNKNOWN_FIRST = ["Priya", "Aroha", "Tevita", "Bartek", "Siobhan", "Kwame", "Anh", "Rahim"]
SURNAMES = ["Smith", "Nguyen", "O'Brien", "McDonald", "Kowalski", "Patel", "Walker", "Tane"]
# A template is a sequence of literals and (kind, field) slots; "t" is the real text.
T = ("t", "t")
TEMPLATES = [
    [T, " - called ", ("name", "first last"), " on ", ("phone", "phone")],
    [T, ", per ", ("name", "initial last")],
    [T, " email ", ("email", "email"), " for quote"],
    ["spoke to ", ("name", "first"), " re ", T],
    [T, " ph ", ("phone", "phone")],
    [T, ". Contact ", ("name", "first last"), " ", ("phone", "phone"), " or ", ("email", "email")],
    [("name", "FIRST"), " reports ", T],
    [T, " (tech: ", ("name", "first last"), ")"],
    # Harder: no cue at all. Only the built-in name list can find these.
    [T, " ", ("name", "first last"), " to follow up"],
    [("name", "first"), ": ", T],
    [T, " ", ("phone", "phone")],
]
TECH_TOKENS = [
    "P-101",
    "120 psi",
    "4.5 bar",
    "3408-1234",
    "6V-1234",
    "12/03/2024",
    "2024-03-12",
    "889 HOURS",
    "1500 rpm",
    "POS 2",
    "o'ring",
    "250 kPa",
    "14:30",
    "ISO 10816",
    "WO 45123",
]


def _maintnorm(root: Path) -> list[str]:
    texts, current = [], []
    for company in ("company_a", "company_b", "company_c"):
        for line in (root / "maintnorm" / "data" / company / "test.norm").read_text().splitlines():
            if not line.strip():
                if current:
                    texts.append(" ".join(current))
                current = []
            else:
                current.append(line.split("\t")[0])
    return texts


@pytest.fixture(scope="module")
def corpus(shared_data: Path) -> list[str]:
    root = shared_data / "maintenance-text"
    maintie = json.loads((root / "maintie" / "gold_release.json").read_text())
    texts = _maintnorm(root) + [r["text"] for r in maintie]
    assert len(texts) > 2000
    return texts


def _phone(rng: random.Random) -> str:
    forms = ["04{}{} {}{}{} {}{}{}", "(08) 9{}{}{} {}{}{}{}", "+61 4{}{} {}{}{} {}{}{}"]
    form = rng.choice(forms)
    return form.format(*(rng.randint(0, 9) for _ in range(form.count("{}"))))


def _plant(text: str, rng: random.Random) -> tuple[str, list[tuple[int, int, str]]]:
    """``text`` with personal data planted; the planted spans (start, end, kind)."""
    first = rng.choice(KNOWN_FIRST + UNKNOWN_FIRST)
    last = rng.choice(SURNAMES)
    fields = {
        "t": text,
        "first": first,
        "FIRST": first.upper() if first in KNOWN_FIRST else first,
        "first last": f"{first} {last}",
        "initial last": f"{first[0]}. {last}",
        "phone": _phone(rng),
        "email": f"{first.lower()}.{last.lower().replace(chr(39), '')}@minesite.com.au",
    }
    out, spans, pos = [], [], 0
    for part in rng.choice(TEMPLATES):
        kind, value = (None, part) if isinstance(part, str) else (part[0], fields[part[1]])
        if kind and kind != "t":
            spans.append((pos, pos + len(value), kind))
        out.append(value)
        pos += len(value)
    return "".join(out), spans


def _measure(samples: list[tuple[str, list]]) -> dict:
    tp = fn = fp_chars = found_chars = 0
    for text, planted in samples:
        found = find(text)
        for start, end, _ in planted:
            if any(s.start <= start and s.end >= end for s in found):
                tp += 1
            else:
                fn += 1
        for s in found:
            found_chars += s.end - s.start
            fp_chars += sum(
                1 for i in range(s.start, s.end) if not any(a <= i < b for a, b, _ in planted)
            )
    return {
        "recall": tp / max(tp + fn, 1),
        "precision": 1 - fp_chars / max(found_chars, 1),
        "planted": tp + fn,
    }


def test_planted_personal_data_is_found_with_high_recall_and_precision(corpus):
    rng = random.Random(11)
    samples = [_plant(t, rng) for t in rng.sample(corpus, 600)]
    m = _measure(samples)
    known = _measure([s for s in samples if any(n in s[0] for n in KNOWN_FIRST)])
    unknown = _measure([s for s in samples if any(n in s[0] for n in UNKNOWN_FIRST)])
    print(f"redaction, 600 real texts: all {m}; listed names {known}; unlisted {unknown}")
    assert m["recall"] >= 0.9, m
    assert m["precision"] >= 0.95, m
    assert known["recall"] >= 0.97, known


def test_real_maintenance_texts_are_left_almost_untouched(corpus):
    changed = [t for t in corpus if find(t)]
    rate = len(changed) / len(corpus)
    print(f"{len(changed)} of {len(corpus)} real texts had something redacted: {changed[:10]}")
    assert rate <= 0.02, changed[:20]


@pytest.mark.parametrize("token", TECH_TOKENS)
def test_technical_tokens_survive_inside_real_texts(corpus, token):
    rng = random.Random(zlib.crc32(token.encode()))  # hash() differs per process
    for text in rng.sample(corpus, 30):
        note = f"{text} {token} checked"
        assert token in redact(note).text, (note, redact(note).text)


def test_redacted_text_carries_placeholders_only_where_data_was():
    r = redact("Leak on P-101 at 120 psi, called Mick Walker 0412 345 678, mick@site.com")
    assert r.text == "Leak on P-101 at 120 psi, called [NAME] [PHONE], [EMAIL]"
    assert [s.kind.value for s in r.spans] == ["NAME", "PHONE", "EMAIL"]


def test_the_built_in_name_list_leaves_out_maintenance_words():
    assert not {"jack", "bob", "guy", "pump", "bearing"} & GIVEN_NAMES


def test_a_phone_number_before_punctuation_is_redacted_but_times_are_not():
    for text in ("call on 0412 345 678: pump noisy", "ring 0412 345 678.", "mob 0412-345-678, ok"):
        assert "[PHONE]" in redact(text).text and "345" not in redact(text).text, text
    for text in ("checked at 14:30", "counter 12345678:30", "WO 45123: done"):
        assert "[PHONE]" not in redact(text).text, text


def test_an_o_ring_before_a_date_is_not_a_phone_cue():
    for text in (
        "blown lift cyl o-ring 2024-03-12 checked",
        "REPL O'RING 2024-03-12",
        "ring 2024-03-12",
    ):
        assert "[PHONE]" not in redact(text).text, text
    assert "[PHONE]" in redact("ring 0412 345 678 re o-ring").text
