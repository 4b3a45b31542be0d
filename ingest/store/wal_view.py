"""What is still in the write-ahead logs, decoded, for readers: refreshed incrementally.

A reader process (dashboard, scorer restart) may ask many times a second; each segment is
parsed and decoded once, and only the bytes appended since are parsed on the next call.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

from ingest.store.checkpoint import decode_record
from ingest.store.wal import list_segments, read_checkpoint, scan
from plant.readings import Modality, Reading


@dataclasses.dataclass(slots=True)
class _Segment:
    end: int = 0  # offset after the last record parsed
    readings: dict[Modality, list[tuple[Reading, int]]] = dataclasses.field(
        default_factory=lambda: {m: [] for m in Modality}
    )


class WalView:
    """Decoded readings (with arrival times) of the unflushed segments of some WALs."""

    def __init__(self) -> None:
        self._segments: dict[Path, _Segment] = {}
        self._lock = threading.Lock()  # a Dash server reads from several threads

    def readings(self, wal_dirs: list[Path], modality: Modality) -> list[tuple[Reading, int]]:
        """(reading, arrival_ns) of ``modality`` still in the logs, oldest segment first.

        Records that are not readings (bad topic or payload) are left to the dead letters.
        """
        with self._lock:
            return self._readings(wal_dirs, modality)

    def _readings(self, wal_dirs: list[Path], modality: Modality) -> list[tuple[Reading, int]]:
        live: list[_Segment] = []
        seen: set[Path] = set()
        for d in wal_dirs:
            done = read_checkpoint(d)
            for seg_id, path in list_segments(d):
                if seg_id > done:
                    seg = self._refresh(path, seg_id)
                    if seg is not None:
                        live.append(seg)
                        seen.add(path)
        for path in set(self._segments) - seen:  # checkpointed and deleted
            del self._segments[path]
        return [item for seg in live for item in seg.readings[modality]]

    def _refresh(self, path: Path, seg_id: int) -> _Segment | None:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        seg = self._segments.get(path)
        if seg is None or len(data) < seg.end:  # new, or truncated by a recovery
            seg = self._segments[path] = _Segment()
        if len(data) > seg.end:
            records, seg.end = scan(data, seg_id, start=seg.end or None)
            for rec in records:
                r = decode_record(rec)
                if isinstance(r, Reading):
                    seg.readings[r.modality].append((r, rec.arrival_ns))
        return seg
