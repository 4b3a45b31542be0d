"""Counting XLA compilations, to check that the live stream never waits for one.

JAX reports every backend compilation (a persistent-cache hit included: it still goes through
``compile_or_get_cached``) as the monitoring event ``/jax/core/compile/backend_compile_duration``
with the jitted function's name. :class:`CompileCounter` listens to it (``jax.monitoring``, a
public API) and counts per function name; serve keeps one for its whole life and logs a warning
for every compilation after the model is warm (docs/OPERATIONS.md, "Compiled shapes").
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable

import jax

BACKEND_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


class CompileCounter:
    """Counts compilations while registered (``with CompileCounter() as c:`` or ``start``)."""

    def __init__(self, on_compile: Callable[[str, float], None] | None = None) -> None:
        self.counts: collections.Counter[str] = collections.Counter()
        self.seconds = 0.0
        self._lock = threading.Lock()
        self._on_compile = on_compile
        self._registered = False

    def _listener(self, event: str, duration: float, **kwargs: object) -> None:
        if event != BACKEND_COMPILE_EVENT:
            return
        name = str(kwargs.get("fun_name", "?"))
        with self._lock:
            self.counts[name] += 1
            self.seconds += duration
        if self._on_compile is not None:
            self._on_compile(name, duration)

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.counts.values())

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)

    def start(self) -> CompileCounter:
        if not self._registered:
            jax.monitoring.register_event_duration_secs_listener(self._listener)
            self._registered = True
        return self

    def stop(self) -> None:
        if self._registered:
            jax.monitoring.unregister_event_duration_listener(self._listener)
            self._registered = False

    def __enter__(self) -> CompileCounter:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def since(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Compilations per function between two snapshots (only those that happened)."""
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}
