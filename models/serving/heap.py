"""Keeping Python's cyclic garbage collector off the scoring worker's latency.

A 5,000-asset serve holds ~1 M objects the collector tracks (the model and its compiled
functions, the plant's config, ~70 per asset of window-assembly state). A full collection walks
all of them: 0.12-0.49 s with the worker stopped, 13 times in a 50-s profile, ~30 % of its CPU
(SV session 9). Almost none of them ever become garbage, so they are frozen (``gc.freeze``: out
of the collector's reach; reference counting still frees them):

- ``settle()``, at every model swap (rare): release what was frozen, collect everything, freeze
  what is left, so an old model's reference cycles do not outlive it;
- ``maintain()``, from the worker between batches: at 30 s, 60 s, 120 s ... then every
  ``every_s`` after a settle, collect what is not frozen and freeze the survivors (the assets'
  state made since, in a fraction of a full collection's pause); every ``full_every_s`` a full
  ``settle()``, so an object that became cyclic garbage after it was frozen is reclaimed too.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


@dataclasses.dataclass
class HeapStats:
    collections: int = 0  # scheduled collections (settles included)
    freed: int = 0  # unreachable objects they found
    pause_s_max: float = 0.0


class HeapKeeper:
    def __init__(
        self,
        first_s: float = 30.0,
        every_s: float = 300.0,
        full_every_s: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.first_s, self.every_s, self.full_every_s = first_s, every_s, full_every_s
        self.clock = clock
        self.stats = HeapStats()
        self._step_s = first_s
        self._next = self._next_full = float("inf")  # nothing scheduled before a settle

    def settle(self) -> None:
        """Collect everything (the frozen objects too) and freeze what survives."""
        gc.unfreeze()
        self._collect(full=True)
        now = self.clock()
        self._step_s = self.first_s
        self._next, self._next_full = now + self._step_s, now + self.full_every_s

    def maintain(self) -> None:
        """(Worker, between batches) the collection due now, if one is."""
        now = self.clock()
        if now >= self._next_full:
            self.settle()
        elif now >= self._next:
            self._collect(full=False)
            self._step_s = min(2 * self._step_s, self.every_s)
            self._next = now + self._step_s

    def _collect(self, *, full: bool) -> None:
        t0 = time.perf_counter()
        freed = gc.collect()  # the frozen (permanent) generation is not examined
        gc.freeze()
        pause = time.perf_counter() - t0
        s = self.stats
        s.collections += 1
        s.freed += freed
        s.pause_s_max = max(s.pause_s_max, pause)
        log.debug("%s collection: %d unreachable, %.3f s", "full" if full else "young", freed,
                  pause)  # fmt: skip
