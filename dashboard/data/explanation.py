"""The model's explanation of one scored window, as the dashboard shows it (no Dash here).

The explanation is computed by ``models/explain.py`` (``Explainer(scorer).explain(window, ...)``)
and travels as the ``explanation`` field of a health event (docs/PROTOCOL.md)::

    {"shapley": {"vibration": f, "thermal": f, "camera": f, "notes": f},  # absent modality 0
     "base": f, "score": f,                       # base + sum(shapley) == score
     "primary": "vibration",
     "evidence": {"vibration": {"bands": [{"hz", "order", "weight", "label"}, ...],
                                "peak_hz": f, "peak_label": str},
                  "thermal": {"ts_ns": [...], "residual_c": [...], "weight": [...]},
                  "camera": {"grid": [rows, cols], "saliency": [rows*cols floats, 0..1]},
                  "notes": {"tokens": [{"text": str, "weight": f}, ...]}}}  # text redacted

Sources, in order: the alarm's own explanation (the window that raised it, from the alarm API);
for the asset page, ``GET /api/v1/assets/{asset}/explanation`` of ``plantwatch serve`` (the
latest window explained on request), else the newest explained alarm of the asset. An older
producer's flat ``{modality: shapley}`` is read too (no evidence then). A malformed document
is refused with the offending key, never half-shown.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from dashboard.data.alarm_views import Alarm
from dashboard.data.alarms_api import AlarmApiClient, ApiError
from ingest.redact import redact

log = logging.getLogger(__name__)

MODALITIES: tuple[str, ...] = ("vibration", "thermal", "camera", "notes")
SUM_TOLERANCE = 1e-3  # |base + sum(shapley) - score|, relative to max(1, |score|)


class ExplanationError(ValueError):
    """An explanation document that does not follow the contract (the message names the key)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Band:
    """One envelope-spectrum band the model attended to, labelled with the defect it matches."""

    hz: float
    order: float  # hz / shaft speed
    weight: float
    label: str  # "BPFO", "2xBPFI", "1x", ... or "" when it matches no known frequency


@dataclasses.dataclass(frozen=True, slots=True)
class Token:
    text: str  # already redacted by ingest; redacted again here (defence in depth)
    weight: float


@dataclasses.dataclass(frozen=True, slots=True)
class ThermalAttribution:
    ts_ns: np.ndarray  # (T,) int64
    residual_c: np.ndarray  # (T,) measured minus expected
    weight: np.ndarray  # (T,) attribution per time step


@dataclasses.dataclass(frozen=True, slots=True)
class Explanation:
    shapley: dict[str, float]  # every modality of MODALITIES; absent ones 0
    base: float | None = None
    score: float | None = None
    primary: str | None = None
    bands: tuple[Band, ...] = ()
    peak_hz: float | None = None
    peak_label: str = ""
    thermal: ThermalAttribution | None = None
    saliency: np.ndarray | None = None  # (rows, cols) in [0, 1]
    tokens: tuple[Token, ...] = ()
    evidence_of: frozenset[str] = frozenset()  # modalities with evidence in the document
    source: str = ""  # where it came from, said on the page
    ts_ns: int | None = None  # the explained window's time, when known

    @property
    def consistent(self) -> bool | None:
        """base + sum(shapley) == score (None: the document has no base/score)."""
        if self.base is None or self.score is None:
            return None
        gap = abs(self.base + sum(self.shapley.values()) - self.score)
        return gap <= SUM_TOLERANCE * max(1.0, abs(self.score))

    def driving_tokens(self) -> dict[str, float]:
        """Lower-cased token -> weight for the tokens that pushed the score up."""
        out: dict[str, float] = {}
        for t in self.tokens:
            key = t.text.strip().lower()
            if key and t.weight > 0:
                out[key] = max(out.get(key, 0.0), t.weight)
        return out


def _num(doc: Mapping[str, Any], key: str, where: str, default: float | None = None) -> float:
    value = doc.get(key, default)
    if value is None and default is None and key not in doc:
        raise ExplanationError(f"{where}.{key} is missing")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ExplanationError(f"{where}.{key} = {value!r} is not a finite number")
    return float(value)


def _array(doc: Mapping[str, Any], key: str, where: str, dtype: type) -> np.ndarray:
    value = doc.get(key)
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise ExplanationError(f"{where}.{key} should be a list, got {type(value).__name__}")
    try:
        arr = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ExplanationError(f"{where}.{key}: {exc}") from None
    if arr.ndim != 1:
        raise ExplanationError(f"{where}.{key} should be a flat list, got shape {arr.shape}")
    return arr


def _shapley(flat: Mapping[str, Any], where: str) -> dict[str, float]:
    unknown = set(flat) - set(MODALITIES)
    if unknown:
        raise ExplanationError(f"{where} has unknown modalities {sorted(unknown)}; {MODALITIES}")
    return {m: _num(flat, m, where, 0.0) for m in MODALITIES}


def _bands(ev: Mapping[str, Any]) -> tuple[Band, ...]:
    out = []
    for i, b in enumerate(ev.get("bands") or []):
        where = f"evidence.vibration.bands[{i}]"
        if not isinstance(b, Mapping):
            raise ExplanationError(f"{where} should be an object")
        out.append(
            Band(
                hz=_num(b, "hz", where),
                order=_num(b, "order", where, 0.0),
                weight=_num(b, "weight", where),
                label=str(b.get("label") or ""),
            )
        )
    return tuple(sorted(out, key=lambda b: -b.weight))


def _thermal(ev: Mapping[str, Any]) -> ThermalAttribution:
    where = "evidence.thermal"
    ts = _array(ev, "ts_ns", where, np.int64)
    res = _array(ev, "residual_c", where, np.float64)
    weight = _array(ev, "weight", where, np.float64) if "weight" in ev else np.zeros(res.shape)
    if not ts.size == res.size == weight.size:
        raise ExplanationError(
            f"{where}: ts_ns, residual_c and weight differ in length "
            f"({ts.size}, {res.size}, {weight.size})"
        )
    return ThermalAttribution(ts, res, weight)


def _saliency(ev: Mapping[str, Any]) -> np.ndarray:
    where = "evidence.camera"
    grid = ev.get("grid")
    ok = isinstance(grid, Sequence) and len(grid) == 2
    if not (ok and all(isinstance(g, int) and not isinstance(g, bool) for g in grid)):
        raise ExplanationError(f"{where}.grid = {grid!r}; expected [rows, cols]")
    sal = _array(ev, "saliency", where, np.float64)
    rows, cols = grid
    if rows <= 0 or cols <= 0 or sal.size != rows * cols:
        raise ExplanationError(
            f"{where}.saliency has {sal.size} values; grid {rows}x{cols} needs {rows * cols}"
        )
    return np.clip(sal.reshape(rows, cols), 0.0, 1.0)


def _tokens(ev: Mapping[str, Any]) -> tuple[Token, ...]:
    out = []
    for i, t in enumerate(ev.get("tokens") or []):
        where = f"evidence.notes.tokens[{i}]"
        if not isinstance(t, Mapping) or not isinstance(t.get("text"), str):
            raise ExplanationError(f"{where} should be {{'text': str, 'weight': float}}")
        out.append(Token(redact(t["text"]).text, _num(t, "weight", where)))
    return tuple(out)


def parse_explanation(
    doc: Mapping[str, Any] | None, source: str = "", ts_ns: int | None = None
) -> Explanation | None:
    """The contract's document (or the older flat one) as an :class:`Explanation`; None: none."""
    if not doc:
        return None
    if not isinstance(doc, Mapping):
        raise ExplanationError(f"explanation should be an object, got {type(doc).__name__}")
    if "shapley" not in doc:  # older producers: {modality: shapley value}
        return Explanation(_shapley(doc, "explanation"), source=source, ts_ns=ts_ns)
    if not isinstance(doc["shapley"], Mapping):
        raise ExplanationError("explanation.shapley should be an object")
    shapley = _shapley(doc["shapley"], "shapley")
    evidence = doc.get("evidence") or {}
    if not isinstance(evidence, Mapping):
        raise ExplanationError("explanation.evidence should be an object")
    unknown = set(evidence) - set(MODALITIES)
    if unknown:
        raise ExplanationError(f"evidence has unknown modalities {sorted(unknown)}")
    vib = evidence.get("vibration") or {}
    primary = doc.get("primary")
    if primary is not None and primary not in MODALITIES:
        raise ExplanationError(f"primary = {primary!r}; expected one of {MODALITIES}")
    return Explanation(
        shapley=shapley,
        base=_num(doc, "base", "explanation") if "base" in doc else None,
        score=_num(doc, "score", "explanation") if "score" in doc else None,
        primary=primary,
        bands=_bands(vib),
        peak_hz=(  # null: no band raised the score
            _num(vib, "peak_hz", "evidence.vibration") if vib.get("peak_hz") is not None else None
        ),
        peak_label=str(vib.get("peak_label") or ""),
        thermal=_thermal(evidence["thermal"]) if evidence.get("thermal") else None,
        saliency=_saliency(evidence["camera"]) if evidence.get("camera") else None,
        tokens=_tokens(evidence["notes"]) if evidence.get("notes") else (),
        evidence_of=frozenset(evidence),
        source=source,
        ts_ns=_window_time(doc, ts_ns),
    )


def _window_time(doc: Mapping[str, Any], default: int | None) -> int | None:
    """The explained window's own time when the document says it (serve adds ``ts_ns``: a
    reused explanation can be of a window up to ``explain_reuse_s`` before the event's)."""
    ts = doc.get("ts_ns")
    return int(ts) if isinstance(ts, int) and not isinstance(ts, bool) else default


def safe_parse(
    doc: Mapping[str, Any] | None, source: str, ts_ns: int | None = None
) -> tuple[Explanation | None, str]:
    """(explanation, problem): a malformed document is logged and named, never half-shown."""
    try:
        return parse_explanation(doc, source, ts_ns), ""
    except ExplanationError as exc:
        log.warning("explanation from %s refused: %s", source, exc)
        return None, f"The explanation from {source} does not follow the contract: {exc}"


def for_alarm(alarm: Alarm) -> tuple[Explanation | None, str]:
    """The explanation of the window that raised ``alarm`` (kept on the alarm record)."""
    return safe_parse(alarm.explanation, f"alarm {alarm.id}", alarm.raised_ns)


def for_alarm_page(api: AlarmApiClient, token: str, alarm: Alarm) -> tuple[Explanation | None, str]:
    """The alarm page's explanation: the alarm record's own (the window that raised it) when it
    carries in-modality evidence; else (no explanation kept, an older flat document, or one
    refused) serve's explanation of the asset's latest window, said on the page with its
    window time, so the page still shows the model's evidence; else whatever the record has."""
    own, problem = for_alarm(alarm)
    if own is not None and own.evidence_of:
        return own, problem
    try:
        got = api.asset_explanation(token, alarm.asset)
    except ApiError as exc:
        return own, problem or f"Latest explanation not reachable: {exc.detail or exc.status}"
    if got is None:
        return own, problem
    latest, bad = safe_parse(got[0], "plantwatch serve (latest window)", got[1])
    if latest is None or not latest.evidence_of:
        return own, problem or bad
    why = "has no explanation" if own is None else "has no evidence per modality"
    note = (
        f"Alarm {alarm.id}'s record {why}: the evidence shown is from the asset's latest "
        "window, explained by plantwatch serve, not from the window that raised the alarm."
    )
    return latest, "; ".join(x for x in (problem, note) if x)


def latest_for_asset(
    api: AlarmApiClient, token: str, asset: str, alarms: Sequence[Alarm]
) -> tuple[Explanation | None, str]:
    """The newest explanation of ``asset``: serve's on-request one, else its newest alarm's."""
    problem = ""
    try:
        got = api.asset_explanation(token, asset)
    except ApiError as exc:
        got, problem = None, f"Latest explanation not reachable: {exc.detail or exc.status}"
    if got is not None:
        expl, bad = safe_parse(got[0], "plantwatch serve (latest window)", got[1])
        if expl is not None:
            return expl, problem
        problem = bad
    for a in sorted(alarms, key=lambda a: -a.raised_ns):
        if a.asset == asset and a.explanation:
            expl, bad = for_alarm(a)
            if expl is not None:
                return expl, problem
            problem = problem or bad
    return None, problem
