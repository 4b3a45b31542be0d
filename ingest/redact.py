"""Redaction of personal data in operator notes: e-mail addresses, phone numbers and names.

Rule-based and offline (nothing to download, deterministic, explainable per span). Maintenance
text is full of tokens that look like personal data and are not: part numbers (``3408-1234``),
pump ids (``P-101``), pressures (``120 psi``), hours (``889 HOURS``) and dates. The rules are
built so those survive; ``tests/test_ingest_redact.py`` measures precision and recall on real
maintenance texts with names, numbers and addresses planted in them.

- e-mail: ``local@domain.tld``.
- phone: 8 to 15 digits in digit groups (``+61 8 9123 4567``, ``(08) 9123-4567``,
  ``0412 345 678``), or 6+ digits after a cue (``ph``, ``tel``, ``mob``, ``ext``); never a date,
  a time or a number followed by a unit.
- name: a known given name (a built-in list, case-insensitive) with an optional following
  surname or initial; or a capitalised word after a cue (``Mr``, ``called``, ``spoke to``,
  ``tech:``, ...); or initial-and-surname forms such as ``J. Smith`` after such a cue.
"""

from __future__ import annotations

import dataclasses
import re
from enum import StrEnum


class Kind(StrEnum):
    EMAIL = "EMAIL"
    PHONE = "PHONE"
    NAME = "NAME"


@dataclasses.dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int
    kind: Kind


@dataclasses.dataclass(frozen=True, slots=True)
class Redaction:
    text: str
    spans: tuple[Span, ...]  # in the original text


EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
_GROUPED = r"(?:\+\d{1,3}[ .\-]?)?(?:\(\d{1,4}\)[ .\-]?)?\d{2,5}(?:[ .\-]\d{2,5}){1,4}"
PHONE = re.compile(rf"(?<![\w/.\-:#])(?:{_GROUPED}|\+?\d{{8,15}})(?![\w/\-]|[.:]\d)")
PART_NUMBER = re.compile(r"^\d{2,5}-\d{2,5}$")  # two hyphenated groups: a part, not a phone
PHONE_CUE = re.compile(
    r"(?<![\w'’\-])(?:ph|phone|tel|mob|mobile|cell|ext|call|ring|rang|fax)\b[.:#]?\s*"
    r"(\+?\d[\d \-]{4,}\d)",  # not the "ring" of an o-ring
    re.IGNORECASE,
)
DATE = re.compile(r"\d{1,4}[/.\-]\d{1,2}[/.\-]\d{1,4}")
UNIT_AFTER = re.compile(
    r"\s*(?:psi|kpa|mpa|bar|rpm|hz|khz|mm|cm|m|km|kw|hp|v|kv|a|amp|amps|nm|deg|c|f|%|l|lt|ltrs|"
    r"hrs?|hours?|kg|t|tonne|tonnes|mm/s|m/s|g)\b",
    re.IGNORECASE,
)

NAME_CUES = (
    r"mr|mrs|ms|miss|dr|called|call|rang|ring|contact|contacted|spoke to|spoke with|talked to|"
    r"told|tell|ask|asked|advised|notify|notified|inform|informed|per|by|from|with|attn|cc|"
    r"signed|author"
)
ROLE_CUES = r"tech|technician|fitter|electrician|sparky|operator|supervisor|planner|reported by"
NAME_CUE = re.compile(rf"\b(?:(?:{NAME_CUES})\b[.:]?|(?:{ROLE_CUES})\s*:)\s+", re.IGNORECASE)
# "<Name> reports ...": a word right before a reporting verb, at the start or after a separator.
NAME_BEFORE_VERB = re.compile(
    r"(?:^|(?<=[.;,:\-(]\s))([A-Z][a-z]+|[A-Z]{3,})(?=\s+(?:reports|reported|says|said|noted|"
    r"advised|rang|called|requested|confirmed)\b)",
    re.IGNORECASE,
)
# After a cue: "J. Smith", "J Smith", "Smith", "O'Brien", "McDonald-Jones" (case-sensitive).
_CAP = r"(?:O'|Mc|Mac|D')?[A-Z][a-z]+(?:-[A-Z][a-z]+)?"
CUED_NAME = re.compile(rf"(?:[A-Z]\.?\s+)?{_CAP}(?:\s{_CAP})?")
SURNAME = re.compile(rf"^(?:{_CAP}|[A-Z])$")
WORD = re.compile(r"[A-Za-z][A-Za-z'\-]*")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Capitalised words that follow cues but are not names ("by Friday", "from Stores").
NOT_NAMES = _words(
    """
    monday tuesday wednesday thursday friday saturday sunday january february march april
    may june july august september october november december today tomorrow yesterday stores
    store workshop site the a an pump motor fan gearbox compressor bearing shift day night
    operations ops maintenance planner planning control room electrical mechanical crew team
    vendor supplier contractor oem de nde north south east west left right front rear
    """
)

# A built-in list of common given names (English-speaking industrial workforces). Names that
# are also common maintenance words (e.g. "Bob" as in plumb bob, "Jack", "Guy") are left out.
GIVEN_NAMES = _words(
    """
    aaron adam adrian alan albert alex alexander alice alison allan amanda amy andrew angela
    anna anne anthony ashley barbara barry ben benjamin beth brad bradley brendan brett
    brian bruce bryce caleb cameron carl carol caroline catherine chad charles charlie chris
    christine christopher claire colin craig dale damien dan daniel darren david dean
    deborah dennis derek diane donald donna doug douglas dylan edward elizabeth emily emma
    eric evan frank fred gary gavin geoff geoffrey george gerald glen glenn gordon graham
    grant greg gregory hannah harry heather helen henry ian jacob james jamie jane janet
    jason jeff jeffrey jennifer jenny jeremy jessica jim jimmy joan joe joel john johnny jon
    jonathan jordan joseph josh joshua julie justin karen kate katherine kathryn keith kelly
    ken kenneth kerry kevin kim kyle kylie larry laura lee leanne leon linda lisa liam luke
    lyn lynne malcolm marcus margaret maria mark martin mary matt matthew maureen megan melissa
    michael michelle mick mike mitch mitchell nathan neil nicholas nick nicole noel oliver
    owen pamela patrick paul peter phil philip phillip rachel ray raymond rebecca richard
    rick robert robyn rodney roger ronald ross russell ryan sam samantha sandra sarah
    scott sean shane sharon shaun simon sophie stephen steve steven stuart sue susan tanya
    terry thomas tim timothy todd tom tony tracy travis trevor troy vanessa victoria vince
    wayne william zoe
    """
)

# Given names that are also ordinary words in maintenance text.
AMBIGUOUS_NAMES = _words("mark grant dean glen glenn lee ray rick chad will sue carl crane")


def find(text: str) -> list[Span]:
    """Spans of personal data in ``text``, non-overlapping, in order."""
    spans = [Span(m.start(), m.end(), Kind.EMAIL) for m in EMAIL.finditer(text)]
    spans += _phones(text)
    spans += _names(text)
    return _merge(spans)


def redact(text: str) -> Redaction:
    """``text`` with each span replaced by ``[EMAIL]``, ``[PHONE]`` or ``[NAME]``."""
    spans = find(text)
    out, pos = [], 0
    for s in spans:
        out.append(text[pos : s.start])
        out.append(f"[{s.kind.value}]")
        pos = s.end
    out.append(text[pos:])
    return Redaction("".join(out), tuple(spans))


def redact_author(author: str) -> str:
    """The note's author is personal data as a whole: kept only as the fact that there was one."""
    return "[NAME]" if author.strip() else ""


def _phones(text: str) -> list[Span]:
    spans = []
    for m in PHONE.finditer(text):
        token = m.group(0)
        digits = sum(c.isdigit() for c in token)
        if not 8 <= digits <= 15 or DATE.search(token) or PART_NUMBER.match(token):
            continue
        if UNIT_AFTER.match(text, m.end()):
            continue
        spans.append(Span(m.start(), m.end(), Kind.PHONE))
    for m in PHONE_CUE.finditer(text):
        number = m.group(1)
        if DATE.fullmatch(number.strip()):
            continue
        if sum(c.isdigit() for c in number) >= 6 and not UNIT_AFTER.match(text, m.end(1)):
            spans.append(Span(m.start(1), m.end(1), Kind.PHONE))
    return spans


def _names(text: str) -> list[Span]:
    spans = []
    for m in NAME_CUE.finditer(text):
        cued = CUED_NAME.match(text, m.end())
        if cued and cued.group(0).split()[-1].rstrip(".").lower() not in NOT_NAMES:
            spans.append(Span(cued.start(), cued.end(), Kind.NAME))
    for m in NAME_BEFORE_VERB.finditer(text):
        word = m.group(1)
        if word.lower() not in NOT_NAMES and (word[1:].islower() or word.isupper()):
            spans.append(Span(m.start(1), m.end(1), Kind.NAME))
    words = list(WORD.finditer(text))
    for i, w in enumerate(words):
        if w.group(0).lower() not in GIVEN_NAMES:
            continue
        end = w.end()
        nxt = words[i + 1] if i + 1 < len(words) else None
        if nxt is not None and text[end : nxt.start()] in (" ", ". ") and _surname(nxt.group(0)):
            end = nxt.end()
        elif w.group(0).lower() in AMBIGUOUS_NAMES:
            continue  # "Mark up the map", "Grant access": a name only with a surname or a cue
        spans.append(Span(w.start(), end, Kind.NAME))
    return spans


def _surname(word: str) -> bool:
    """A Title-case word that is not a known non-name (all-caps words are too often jargon)."""
    return bool(SURNAME.match(word)) and word.lower() not in NOT_NAMES


def _merge(spans: list[Span]) -> list[Span]:
    out: list[Span] = []
    for s in sorted(spans, key=lambda s: (s.start, -s.end)):
        if out and s.start < out[-1].end:
            last = out[-1]
            if s.end > last.end:
                out[-1] = Span(last.start, s.end, last.kind)
            continue
        out.append(s)
    return out
