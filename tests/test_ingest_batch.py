"""BatchWriter in two steps (prepare on the worker, finish on the sync thread): a copy of a key
that is appended but not yet committed is a duplicate, and finishing makes it durable once."""

from __future__ import annotations

import time

from ingest.batch import BatchWriter
from ingest.consumer import Message
from tests.ingest_helpers import plant_config, readings, stored_keys


def test_a_copy_arriving_before_the_first_is_committed_is_a_duplicate(tmp_path) -> None:
    plant = plant_config()
    writer = BatchWriter(plant, tmp_path / "store", "w0")
    now = time.time_ns()
    items = readings(plant, 3)
    first = [Message(t, p, now, i, 1, 1) for i, (t, p, _) in enumerate(items)]
    again = [Message(t, p, now, 1000 + i, 1, 1) for i, (t, p, _) in enumerate(items[:5])]
    p1 = writer.prepare(first)
    p2 = writer.prepare(again)  # batch 1 appended, its keys not yet committed
    assert len(p1.fresh) == len(items) and p2.fresh == [] and p2.duplicates == 5
    writer.finish([p1, p2])  # one fsync for both, then the keys
    assert writer.metrics.stored == len(items) and writer.metrics.duplicates == 5
    p3 = writer.prepare(again)  # committed now: found in the index
    assert p3.fresh == [] and p3.duplicates == 5
    writer.finish([p3])
    writer.close()
    counts = stored_keys(tmp_path / "store", plant)
    assert len(counts) == len(items) and set(counts.values()) == {1}
