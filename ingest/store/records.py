"""Rows of the store's other tables: labels (fault episodes), scores (health events), dead letters.

Each converts both ways between the domain objects and the schemas of :mod:`ingest.schema`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from ingest.schema import DEAD_LETTER_SCHEMA, LABELS_SCHEMA, SCORES_SCHEMA
from plant.events import HealthEvent, shapley_values
from plant.labels import FaultClass, FaultEpisode
from plant.readings import Modality


@dataclasses.dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message that could not be stored as a reading, kept byte for byte with the reason."""

    topic: str
    payload: bytes
    arrival_ns: int
    reason: str  # short stable code (plant.codec.DecodeError.reason, "bad_topic", ...)
    detail: str


def labels_to_table(episodes: Sequence[FaultEpisode]) -> pa.Table:
    rows = {
        "asset": [e.asset for e in episodes],
        "fault": [e.fault.value for e in episodes],
        "onset_ns": [e.onset_ns for e in episodes],
        "failure_ns": [e.failure_ns for e in episodes],
        "repair_ns": [e.repair_ns for e in episodes],
        "visible_in": [sorted(m.value for m in e.visible_in) for e in episodes],
        "primary": [e.primary.value for e in episodes],
        "growth_exponent": [float(e.growth_exponent) for e in episodes],
        "onset_severity": [float(e.onset_severity) for e in episodes],
    }
    return pa.Table.from_pydict(rows, schema=LABELS_SCHEMA)


def table_to_labels(table: pa.Table) -> list[FaultEpisode]:
    return [
        FaultEpisode(
            asset=r["asset"],
            fault=FaultClass(r["fault"]),
            onset_ns=r["onset_ns"],
            failure_ns=r["failure_ns"],
            repair_ns=r["repair_ns"],
            visible_in=frozenset(Modality(m) for m in r["visible_in"]),
            primary=Modality(r["primary"]),
            growth_exponent=r["growth_exponent"],
            onset_severity=r.get("onset_severity") or 0.0,
        )
        for r in table.to_pylist()
    ]


def _dict_col(values: list[str]) -> pa.Array:
    return pa.array(values, pa.string()).dictionary_encode()


_SCORE_CHUNK = 2048  # rows per conversion: each pyarrow call holds the GIL for all its rows


def scores_to_table(events: Sequence[HealthEvent]) -> pa.Table:
    """The scores table of ``events``. Of an explanation the store keeps the modality Shapley
    values (``plant.events.shapley_values``; docs/STORE.md), None where there are none.

    Converted in chunks of ``_SCORE_CHUNK`` rows, with the map columns built from flat key and
    value lists: serve writes a minute of scores (~31,000 rows at 5,000 assets) on a writer
    thread, and one pyarrow call over all of them held the GIL, and so stopped the scoring
    worker, for ~0.1 s (SV session 9)."""
    rows = list(events)
    batches = [
        _scores_batch(rows[i : i + _SCORE_CHUNK]) for i in range(0, max(len(rows), 1), _SCORE_CHUNK)
    ]
    return pa.Table.from_batches(batches, schema=SCORES_SCHEMA)


def _scores_batch(events: Sequence[HealthEvent]) -> pa.RecordBatch:
    shown = [shapley_values(e.explanation) or None for e in events]
    cols = {
        "asset": _dict_col([e.asset for e in events]),
        "ts_ns": pa.array([e.ts_ns for e in events], pa.int64()),
        "health": pa.array([e.health for e in events], pa.float64()),
        "anomaly_score": pa.array([e.anomaly_score for e in events], pa.float64()),
        "p_value": pa.array([e.p_value for e in events], pa.float64()),
        "fault_class": _dict_col([e.fault_class for e in events]),
        "fault_probability": pa.array([e.fault_probability for e in events], pa.float64()),
        "present": _map_col([e.present for e in events], pa.bool_()),
        "staleness_s": _map_col([e.staleness_s for e in events], pa.float64()),
        "model_version": _dict_col([e.model_version for e in events]),
        "calibration_group": _dict_col([e.calibration_group for e in events]),
        "explanation": _map_col(shown, pa.float64()),
        "scored_ns": pa.array([e.scored_ns for e in events], pa.int64()),
        "trigger": pa.array([e.trigger for e in events], pa.string()),
    }
    return pa.RecordBatch.from_arrays([cols[n] for n in SCORES_SCHEMA.names], schema=SCORES_SCHEMA)


def _map_col(maps: Sequence[Mapping[str, Any] | None], value_type: pa.DataType) -> pa.MapArray:
    """A map<string, value_type> column from Python mappings (None: a null map)."""
    keys: list[str] = []
    values: list[Any] = []
    offsets = [0]
    nulls = []
    for m in maps:
        nulls.append(m is None)
        if m:
            keys.extend(m)
            values.extend(m.values())
        offsets.append(len(keys))
    return pa.MapArray.from_arrays(
        pa.array(offsets, pa.int32()),
        pa.array(keys, pa.string()),
        pa.array(values, value_type),
        mask=pa.array(nulls, pa.bool_()) if any(nulls) else None,
    )


def table_to_scores(table: pa.Table) -> list[HealthEvent]:
    out = []
    for r in table.select(SCORES_SCHEMA.names).to_pylist():
        for name in ("present", "staleness_s", "explanation"):
            if r[name] is not None:
                r[name] = dict(r[name])
        out.append(HealthEvent(**r))
    return out


def dead_letters_to_table(letters: Sequence[DeadLetter]) -> pa.Table:
    cols = {
        "topic": pa.array([d.topic for d in letters], pa.string()),
        "payload": pa.array([bytes(d.payload) for d in letters], pa.binary()),
        "arrival_ns": pa.array([d.arrival_ns for d in letters], pa.int64()),
        "reason": _dict_col([d.reason for d in letters]),
        "detail": pa.array([d.detail for d in letters], pa.string()),
    }
    return pa.Table.from_arrays(
        [cols[n] for n in DEAD_LETTER_SCHEMA.names], schema=DEAD_LETTER_SCHEMA
    )


def table_to_dead_letters(table: pa.Table) -> list[DeadLetter]:
    return [DeadLetter(**r) for r in table.select(DEAD_LETTER_SCHEMA.names).to_pylist()]
