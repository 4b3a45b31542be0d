"""The building blocks of window assembly: per-sensor clocks, duplicate filters, time buffers.

All are O(1) amortised per reading (a late reading costs a short memmove), because the live
scorer feeds every reading through them (~1,000+ readings/s).
"""

from __future__ import annotations

import bisect
from collections import deque
from typing import Generic, TypeVar

import numpy as np

T = TypeVar("T")
NS_PER_S = 1_000_000_000


class SensorClock:
    """A sensor's clock offset against the ingest host's clock, from arrival times.

    ``ts - arrival`` is the sensor's offset minus the network delay. Its median over the last
    ``depth`` readings is robust to the occasional late (queued) delivery; the delay that
    remains in it is milliseconds against a skew of seconds. An estimate beyond ``max_offset_s``
    is not a clock skew (e.g. bulk-imported history whose ingest time is not its arrival time)
    and is not applied.
    """

    __slots__ = ("_diffs", "max_offset_ns", "offset_ns")

    def __init__(self, depth: int = 15, max_offset_s: float = 600.0) -> None:
        self._diffs: deque[int] = deque(maxlen=depth)
        self.max_offset_ns = int(max_offset_s * NS_PER_S)
        self.offset_ns = 0

    def observe(self, ts_ns: int, arrival_ns: int) -> None:
        self._diffs.append(ts_ns - arrival_ns)
        d = sorted(self._diffs)
        est = d[len(d) // 2]
        self.offset_ns = est if abs(est) <= self.max_offset_ns else 0

    def correct(self, ts_ns: int) -> int:
        """``ts_ns`` on the reference (ingest host) clock."""
        return ts_ns - self.offset_ns


class RecentSeqs:
    """The last ``capacity`` (epoch, seq) of one sensor: a redelivered reading is a duplicate."""

    __slots__ = ("_order", "_seen")

    def __init__(self, capacity: int = 1024) -> None:
        self._seen: set[tuple[int, int]] = set()
        self._order: deque[tuple[int, int]] = deque(maxlen=capacity)

    def seen(self, key: tuple[int, int]) -> bool:
        """True if ``key`` was seen before; remembers it otherwise."""
        if key in self._seen:
            return True
        if len(self._order) == self._order.maxlen:
            self._seen.discard(self._order[0])
        self._order.append(key)
        self._seen.add(key)
        return False


class Series:
    """Timestamped rows of ``width`` float64 values, kept sorted, covering ``horizon_ns``.

    Appending in time order is O(1) amortised; a late row is inserted in place.
    """

    def __init__(self, width: int, horizon_ns: int, capacity: int = 64) -> None:
        self.horizon_ns = horizon_ns
        self.ts = np.empty(capacity, dtype=np.int64)
        self.values = np.empty((capacity, width), dtype=np.float64)
        self.n = 0

    def add(self, ts_ns: int, row: np.ndarray | list[float]) -> None:
        if self.n == len(self.ts):
            self._make_room()
        i = self.n if self.n == 0 or ts_ns >= self.ts[self.n - 1] else self._slot(ts_ns)
        if i < self.n:
            self.ts[i + 1 : self.n + 1] = self.ts[i : self.n]
            self.values[i + 1 : self.n + 1] = self.values[i : self.n]
        self.ts[i] = ts_ns
        self.values[i] = row
        self.n += 1

    def _slot(self, ts_ns: int) -> int:
        return int(np.searchsorted(self.ts[: self.n], ts_ns, side="right"))

    def _make_room(self) -> None:
        keep_from = int(np.searchsorted(self.ts[: self.n], self.ts[self.n - 1] - self.horizon_ns))
        if keep_from > 0:
            kept = self.n - keep_from
            self.ts[:kept] = self.ts[keep_from : self.n]
            self.values[:kept] = self.values[keep_from : self.n]
            self.n = kept
        if self.n > len(self.ts) * 3 // 4:  # still mostly full: grow (amortised doubling)
            self.ts = np.concatenate([self.ts, np.empty_like(self.ts)])
            self.values = np.concatenate([self.values, np.empty_like(self.values)])

    @property
    def newest_ns(self) -> int | None:
        return int(self.ts[self.n - 1]) if self.n else None

    def until(self, ts_ns: int) -> tuple[np.ndarray, np.ndarray]:
        """Views of the rows at or before ``ts_ns``."""
        n = self.n
        if n and ts_ns >= self.ts[n - 1]:  # the live case (a window at the newest time): all
            k = n
        else:
            k = int(np.searchsorted(self.ts[:n], ts_ns, side="right"))
        return self.ts[:k], self.values[:k]


class Latest(Generic[T]):
    """The few newest items of one kind (snapshots, images, notes), sorted by time."""

    __slots__ = ("_items", "_ts", "keep")

    def __init__(self, keep: int = 4) -> None:
        self.keep = keep
        self._ts: list[int] = []
        self._items: list[T] = []

    def add(self, ts_ns: int, item: T) -> None:
        i = bisect.bisect_right(self._ts, ts_ns)
        self._ts.insert(i, ts_ns)
        self._items.insert(i, item)
        if len(self._ts) > self.keep:
            del self._ts[0], self._items[0]

    def at(self, ts_ns: int) -> tuple[int, T] | None:
        """The newest item at or before ``ts_ns``, with its time."""
        i = bisect.bisect_right(self._ts, ts_ns)
        return (self._ts[i - 1], self._items[i - 1]) if i else None

    def between(self, lo_ns: int, hi_ns: int) -> list[T]:
        """Items with lo_ns <= ts <= hi_ns, oldest first."""
        a = bisect.bisect_left(self._ts, lo_ns)
        b = bisect.bisect_right(self._ts, hi_ns)
        return self._items[a:b]

    def drop_before(self, ts_ns: int) -> None:
        i = bisect.bisect_left(self._ts, ts_ns)
        if i:
            del self._ts[:i], self._items[:i]

    @property
    def newest_ns(self) -> int | None:
        return self._ts[-1] if self._ts else None
