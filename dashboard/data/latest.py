"""What the asset page shows as the asset's latest: its health, and the time its evidence is of."""

from __future__ import annotations

from dashboard.data.explanation import Explanation


def with_live(history: list, live: object | None) -> list:
    """``history`` (the store's health events, oldest first) ending with ``live`` (the alarm
    engine's latest health of the asset) where that is newer than the store's last."""
    if live is None or (history and getattr(live, "ts_ns", 0) <= history[-1].ts_ns):
        return history
    return [*history, live]


def evidence_time(now_ns: int, latest: object | None, expl: Explanation | None) -> int:
    """Where the asset page's evidence looks back from: the window the explanation shown above
    it explains (so the raw evidence and the attribution are of one time), else the latest
    health score's window, else now. A plant whose data lags the wall clock (a replay, a
    gateway that buffered) still shows its latest evidence, each panel with its own time."""
    for ts in (expl.ts_ns if expl is not None else 0, getattr(latest, "ts_ns", 0)):
        if ts and ts <= now_ns:
            return int(ts)
    return now_ns
