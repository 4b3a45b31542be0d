"""The system's own outputs: health events (scorer -> alarms, dashboard, MQTT), defined once.

Published as JSON on ``plantwatch/v1/health/<site>/<area>/<asset>`` (see docs/PROTOCOL.md).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from plant import WIRE_VERSION
from plant.readings import MODEL_MODALITIES, Modality


@dataclasses.dataclass(frozen=True, slots=True)
class HealthEvent:
    """One scored window of one asset."""

    asset: str
    ts_ns: int  # the window's time
    health: float  # 0 (failed) .. 100 (healthy)
    anomaly_score: float  # the model's raw score; higher is more anomalous
    p_value: float  # conformal p-value against the asset's calibration group
    fault_class: str  # most probable fault class (plant.labels.FaultClass value)
    fault_probability: float
    present: dict[str, bool]  # per model modality
    staleness_s: dict[str, float]  # per present modality: age of its newest reading
    model_version: str
    calibration_group: str = ""
    # docs/PROTOCOL.md: {"shapley": {modality: f}, "base", "score", "primary", "evidence"}, when
    # computed (a flat {modality: Shapley} from older producers is still read: shapley_values)
    explanation: dict[str, Any] | None = None
    scored_ns: int = 0  # when the scorer produced it (latency measurement)
    trigger: str | None = None  # modality whose reading caused this rescoring
    # max - min of the process load (fraction of rated) over the window's thermal history, or
    # None without one: the alarm engine's transient rule (docs/ALARMS.md)
    load_range: float | None = None
    # the conformal p-value of the same window with its operator notes left out, where notes
    # are present and p_value is low enough to matter to the alarm engine (below its clearing
    # threshold); None otherwise: the engine's notes rule (docs/ALARMS.md)
    p_value_sensors: float | None = None

    def to_json(self) -> bytes:
        # the fields as they are (no dataclasses.asdict deep copy: json.dumps only reads them)
        doc: dict[str, Any] = {"v": WIRE_VERSION}
        for name in _FIELDS:
            doc[name] = getattr(self, name)
        return _ENCODER.encode(doc).encode()

    @classmethod
    def from_json(cls, payload: bytes | str) -> HealthEvent:
        doc = json.loads(payload)
        if doc.pop("v", None) != WIRE_VERSION:
            raise ValueError(f"health event version is not {WIRE_VERSION}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(doc) - names
        if unknown:
            raise ValueError(f"unknown health event fields {sorted(unknown)}")
        return cls(**doc)

    @property
    def missing(self) -> list[str]:
        return missing_modalities(self.present)


def missing_modalities(present: dict[str, bool]) -> list[str]:
    """The model's modalities (MODEL_MODALITIES order) not present in ``present``."""
    return [m.value for m in MODEL_MODALITIES if not present.get(m.value, False)]


_FIELDS = tuple(f.name for f in dataclasses.fields(HealthEvent))
# json.dumps with any option builds a new encoder per call (~4 % of serve's worker at 5,000
# assets, SV session 6): one, shared; encode() keeps no state between calls
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


def shapley_values(explanation: dict[str, Any] | None) -> dict[str, float]:
    """Modality -> Shapley value of an explanation, in its current or its older flat form."""
    if not explanation:
        return {}
    flat = explanation.get("shapley", explanation)
    return {k: float(v) for k, v in flat.items() if isinstance(v, int | float)}


def modality_names() -> list[str]:
    return [m.value for m in MODEL_MODALITIES]


__all__ = ["HealthEvent", "Modality", "modality_names", "shapley_values"]
