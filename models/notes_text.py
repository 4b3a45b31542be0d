"""Operator notes to token ids with no download: an abbreviation normaliser, then hashed n-grams.

The abbreviations are the frequent raw -> normalised pairs of the real MaintNorm corpus
(../shared/data/maintenance-text/maintnorm, MIT; counted on ``combined/train.norm``), plus the
rotating-equipment shorthand of shift logs (DE/NDE, brg, vib). Token ids are CRC-32 hashes of byte
n-grams of each normalised word (with word-boundary markers), so typos ("pupm") still share most
of their n-grams with the right word, and any text maps to ids without a vocabulary file.
"""

from __future__ import annotations

import re
import zlib

import numpy as np

ABBREVIATIONS: dict[str, str] = {
    # MaintNorm, most frequent first
    "mech": "mechanical",
    "repl": "replace",
    "pos": "position",
    "u/s": "unserviceable",
    "&": "and",
    "insp": "inspection",
    "hyd": "hydraulic",
    "svce": "service",
    "c/o": "change out",
    "cyl": "cylinder",
    "rh": "right hand",
    "lh": "left hand",
    "l/h": "left hand",
    "a/c": "air conditioner",
    "r/h": "right hand",
    "diff": "differential",
    "eng": "engine",
    "trans": "transmission",
    "rep": "repair",
    "hr": "hour",
    "trk": "track",
    "temp": "temperature",
    "rhs": "right hand side",
    "lhs": "left hand side",
    "cond": "condition",
    "rht": "right",
    "lft": "left",
    "wk": "week",
    "c/out": "change out",
    "assy": "assembly",
    "aircon": "air conditioner",
    "frnt": "front",
    "drv": "drive",
    "press": "pressure",
    "gen": "generator",
    "wont": "won't",
    "hv": "high voltage",
    "tranny": "transmission",
    "err": "error",
    "w/shop": "workshop",
    "cm": "condition monitoring",
    "comp": "compressor",
    "wksp": "workshop",
    "vlv": "valve",
    "brg": "bearing",
    "sys": "system",
    "@": "at",
    "inv": "investigate",
    "req": "requires",
    "n/w": "not working",
    "wtr": "water",
    "changeout": "change out",
    "gaurd": "guard",
    "elect": "electrical",
    "elec": "electrical",
    "+": "and",
    "us": "unserviceable",
    "maint": "maintenance",
    "aux": "auxiliary",
    "sw": "switch",
    "t/c": "torque converter",
    "ext": "extinguisher",
    # rotating-equipment shift-log shorthand
    "de": "drive end",
    "nde": "non drive end",
    "brgs": "bearings",
    "vib": "vibration",
    "vibs": "vibration",
    "mtr": "motor",
    "pmp": "pump",
    "gbx": "gearbox",
    "lube": "lubrication",
    "chk": "check",
    "chkd": "checked",
    "ok": "okay",
    "o/k": "okay",
    "lkg": "leaking",
    "lk": "leak",
    "hi": "high",
    "lo": "low",
    "abn": "abnormal",
    "nois": "noise",
    "cplg": "coupling",
}

_SPLIT = re.compile(r"[^\w/&+@'-]+")
# equipment tags ("PB-003", "p101a"): which machine a note is about travels in its topic; in the
# text a tag only lets a model learn which assets were faulty instead of what was written
_TAG = re.compile(r"^[a-z]{1,4}-?\d{2,5}[a-z]?$")
TAG_WORD = "<tag>"


def normalise(text: str) -> list[str]:
    """Lower-case words with maintenance abbreviations expanded and equipment tags masked."""
    words: list[str] = []
    for raw in _SPLIT.split(text.lower()):
        raw = raw.strip("-'")
        if not raw:
            continue
        if _TAG.match(raw):
            words.append(TAG_WORD)
            continue
        expanded = ABBREVIATIONS.get(raw)
        if expanded is None and "/" in raw and raw not in ABBREVIATIONS:
            words.extend(ABBREVIATIONS.get(p, p) for p in raw.split("/") if p)
            continue
        words.extend((expanded or raw).split())
    return words


def ngram_ids(word: str, n: int, vocab: int) -> list[int]:
    """Hashed byte n-grams of ``<word>``; ids are in [1, vocab) (0 is padding)."""
    data = f"<{word}>".encode()
    grams = [data] if len(data) <= n else [data[i : i + n] for i in range(len(data) - n + 1)]
    return [1 + zlib.crc32(g) % (vocab - 1) for g in grams]


def encode_notes(texts: list[str], length: int, vocab: int, n: int = 3) -> np.ndarray:
    """(length,) int32 token ids of the texts, newest first; 0-padded, truncated at ``length``."""
    out = np.zeros(length, dtype=np.int32)
    k = 0
    for text in texts:
        for word in normalise(text):
            for t in ngram_ids(word, n, vocab):
                if k == length:
                    return out
                out[k] = t
                k += 1
    return out


def token_words(texts: list[str], length: int, n: int = 3) -> list[str]:
    """The word each token position came from (same order as :func:`encode_notes`)."""
    out: list[str] = []
    for text in texts:
        for word in normalise(text):
            count = max(1, len(word) + 2 - n + 1)
            out.extend([word] * count)
            if len(out) >= length:
                return out[:length]
    return out
