"""Serve's garbage-collection schedule (models/serving/heap.py): what is alive at a settle is
frozen, the young collections come at 30, 60, 120 ... s up to ``every_s``, a full settle every
``full_every_s``, and cyclic garbage made after a freeze is still reclaimed."""

from __future__ import annotations

import gc
import weakref

import pytest

from models.serving.heap import HeapKeeper


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


@pytest.fixture(autouse=True)
def _unfrozen_after():
    yield
    gc.unfreeze()


def test_schedule_freezes_and_still_reclaims_cycles() -> None:
    now = [0.0]
    heap = HeapKeeper(first_s=30, every_s=100, full_every_s=1000, clock=lambda: now[0])
    heap.maintain()
    assert heap.stats.collections == 0  # nothing is scheduled before the first settle
    kept = _Node()
    heap.settle()
    assert heap.stats.collections == 1 and gc.get_freeze_count() > 0
    assert not any(o is kept for o in gc.get_objects())  # frozen: out of the collector's lists
    cycle = weakref.ref(_Node())  # garbage made after the freeze
    times = []
    for t in range(1, 1200):
        now[0] = float(t)
        before = heap.stats.collections
        heap.maintain()
        if heap.stats.collections > before:
            times.append(t)
    assert cycle() is None  # a young collection reclaimed it
    assert times[:4] == [30, 90, 190, 290]  # 30, +60, +100 (capped), +100
    assert 1000 in times  # the hourly-style full settle
    assert times[times.index(1000) + 1] == 1030  # and the schedule starts again after it
    assert heap.stats.freed >= 1 and heap.stats.pause_s_max > 0


def test_a_frozen_cycle_is_reclaimed_at_the_next_settle() -> None:
    heap = HeapKeeper(clock=lambda: 0.0)
    node = _Node()
    ref = weakref.ref(node)
    heap.settle()  # node is alive: frozen
    del node
    gc.collect()
    assert ref() is not None  # a frozen cycle is out of reach of plain collections ...
    heap.settle()
    assert ref() is None  # ... until a settle releases the frozen set first
