"""Rows of the store's other tables: labels (fault episodes), scores (health events), dead letters.

Each converts both ways between the domain objects and the schemas of :mod:`ingest.schema`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pyarrow as pa

from ingest.schema import DEAD_LETTER_SCHEMA, LABELS_SCHEMA, SCORES_SCHEMA
from plant.events import HealthEvent
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


def scores_to_table(events: Sequence[HealthEvent]) -> pa.Table:
    def mapping(d: dict | None) -> list[tuple] | None:
        return None if d is None else list(d.items())

    cols = {
        "asset": _dict_col([e.asset for e in events]),
        "ts_ns": pa.array([e.ts_ns for e in events], pa.int64()),
        "health": pa.array([e.health for e in events], pa.float64()),
        "anomaly_score": pa.array([e.anomaly_score for e in events], pa.float64()),
        "p_value": pa.array([e.p_value for e in events], pa.float64()),
        "fault_class": _dict_col([e.fault_class for e in events]),
        "fault_probability": pa.array([e.fault_probability for e in events], pa.float64()),
        "present": [mapping(e.present) for e in events],
        "staleness_s": [mapping(e.staleness_s) for e in events],
        "model_version": _dict_col([e.model_version for e in events]),
        "calibration_group": _dict_col([e.calibration_group for e in events]),
        "explanation": [mapping(e.explanation) for e in events],
        "scored_ns": pa.array([e.scored_ns for e in events], pa.int64()),
        "trigger": pa.array([e.trigger for e in events], pa.string()),
    }
    arrays = [
        cols[f.name] if isinstance(cols[f.name], pa.Array) else pa.array(cols[f.name], f.type)
        for f in SCORES_SCHEMA
    ]
    return pa.Table.from_arrays(arrays, schema=SCORES_SCHEMA)


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
