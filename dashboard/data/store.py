"""Read-only access to the durable store for the dashboard (ingest's StoreReader underneath).

Everything here is bounded in time (a look-back window), so a page never scans a whole store.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

from plant.events import HealthEvent
from plant.readings import Modality, Reading

log = logging.getLogger(__name__)

INGEST_DIR = "_ingest"  # ingest workers' JSON snapshots: metrics-<worker>.json
NS_PER_S = 1_000_000_000


class StoreView:
    """The dashboard's questions to the store, each answered from a bounded time range."""

    def __init__(self, root: str | Path) -> None:
        from ingest.store.reader import StoreReader  # the store's one reader

        self.root = Path(root)
        self.reader = StoreReader(root)

    def health_history(self, asset: str, start_ns: int, end_ns: int) -> list[HealthEvent]:
        return sorted(self.reader.health_events(asset, start_ns, end_ns), key=lambda e: e.ts_ns)

    def latest_reading(
        self, modality: Modality, asset: str, at_ns: int, lookback_s: float
    ) -> Reading | None:
        """The newest reading of ``modality`` at or before ``at_ns`` within the look-back."""
        start = at_ns - int(lookback_s * NS_PER_S)
        readings = self.reader.readings(modality, asset, start, at_ns + 1)
        return max(readings, key=lambda r: r.header.ts_ns) if readings else None

    def readings(self, modality: Modality, asset: str, start_ns: int, end_ns: int) -> list[Reading]:
        out = self.reader.readings(modality, asset, start_ns, end_ns)
        return sorted(out, key=lambda r: r.header.ts_ns)

    def dead_letter_count(self, start_ns: int, end_ns: int) -> int:
        return int(self.reader.dead_letters(start_ns, end_ns).num_rows)

    def ingest_stats(self) -> IngestStats | None:
        """Ingest's operational figures summed over its workers, as they last wrote them."""
        docs = []
        for path in sorted((self.root / INGEST_DIR).glob("metrics-*.json")):
            try:
                docs.append(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError) as exc:  # being replaced right now: skip this once
                log.warning("cannot read %s: %s", path, exc)
        if not docs:
            return None
        last_seen: dict[str, int] = {}
        for d in docs:
            col = list(d.get("sensor_fields", [])).index("last_seen_ns")  # rows are lists
            for name, row in d.get("sensors", {}).items():
                last_seen[name] = max(last_seen.get(name, 0), int(row[col]))
        return IngestStats(
            workers=len(docs),
            snapshot_ns=min(int(d.get("ts_ns", 0)) for d in docs),
            started_ns=max(int(d.get("started_ns", 0)) for d in docs),
            dead_letters=sum(sum(d.get("dead_letters", {}).values()) for d in docs),
            lag_s=max(float(d.get("lag_s", 0.0)) for d in docs),
            messages_per_s=sum(float(d.get("messages_per_s", 0.0)) for d in docs),
            last_seen_ns=last_seen,
        )


@dataclasses.dataclass(frozen=True, slots=True)
class IngestStats:
    workers: int
    snapshot_ns: int  # the oldest worker snapshot's time
    started_ns: int  # when the newest worker started: sensors are expected only after it
    dead_letters: int  # since the workers started
    lag_s: float  # arrival -> durable, worst worker
    messages_per_s: float
    last_seen_ns: dict[str, int]  # "asset/sensor" -> newest reading time
