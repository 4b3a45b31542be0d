"""Routing notifications to channels off the engine's thread, with filters, cooldowns and retries.

Each route has its own queue and worker thread, so a slow mail server never delays the MQTT
state or a webhook. :meth:`Dispatcher.submit` (called by the engine under its lock) only filters
and enqueues; a failed send is logged with its context and retried with exponential backoff
(``backoff_s``, doubled each attempt, ``retries`` times); nothing here can raise into the engine.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Protocol

from plant.alarms.model import Priority
from plant.alarms.notify.message import Notification
from plant.config.alarms import RouteConfig

log = logging.getLogger(__name__)


class Channel(Protocol):
    name: str

    def send(self, note: Notification) -> None:
        """Deliver or raise; the worker retries."""


class RouteWorker:
    """One route: its filter, cooldown, queue and worker thread."""

    def __init__(
        self,
        channel: Channel,
        config: RouteConfig,
        *,
        all_events: bool = False,
        clock: Callable[[], float] = time.monotonic,
        max_queue: int = 10_000,
    ) -> None:
        self.channel = channel
        self.config = config
        self.min_priority = Priority.parse(config.min_priority)
        self.events = None if all_events else frozenset(config.events)
        self.clock = clock
        self._last_sent: dict[str, float] = {}
        self._queue: queue.Queue[Notification | None] = queue.Queue(max_queue)
        self._retry: list[tuple[float, int, int, Notification]] = []
        self._seq = itertools.count()
        self.sent = self.failed = self.dropped = self.skipped = 0
        self.delivered = threading.Condition()
        self._thread = threading.Thread(
            target=self._run, name=f"notify-{channel.name}", daemon=True
        )
        self._thread.start()

    def accepts(self, note: Notification) -> bool:
        if self.events is None:  # MQTT state: every change, grouped or not, no cooldown
            return True
        if note.grouped or note.event not in self.events:
            return False
        if Priority.parse(note.priority) < self.min_priority:
            return False
        now, cooldown = self.clock(), self.config.cooldown_s
        last = self._last_sent.get(note.key)
        if cooldown and last is not None and now - last < cooldown:
            self.skipped += 1
            return False
        self._last_sent[note.key] = now
        return True

    def submit(self, note: Notification) -> None:
        if not self.accepts(note):
            return
        try:
            self._queue.put_nowait(note)
        except queue.Full:
            self.dropped += 1
            log.error("%s notification queue full: dropped alarm %s", self.channel.name, note.key)

    def _run(self) -> None:
        while True:
            timeout = None
            if self._retry:
                timeout = max(0.0, self._retry[0][0] - time.monotonic())
            try:
                note = self._queue.get(timeout=timeout)
            except queue.Empty:
                note = None
            else:
                if note is None:
                    return
                self._attempt(note, 0)
            while self._retry and self._retry[0][0] <= time.monotonic():
                _, _, attempt, again = heapq.heappop(self._retry)
                self._attempt(again, attempt)

    def _attempt(self, note: Notification, attempt: int) -> None:
        try:
            self.channel.send(note)
        except Exception as exc:
            if attempt >= self.config.retries:
                self.failed += 1
                log.error(
                    "%s: giving up on alarm %s (%s) after %d attempts: %s",
                    self.channel.name, note.alarm["id"], note.event, attempt + 1, exc,
                )  # fmt: skip
            else:
                delay = self.config.backoff_s * 2**attempt
                log.warning(
                    "%s: alarm %s (%s) attempt %d failed: %s; retry in %.1f s",
                    self.channel.name, note.alarm["id"], note.event, attempt + 1, exc, delay,
                )  # fmt: skip
                item = (time.monotonic() + delay, next(self._seq), attempt + 1, note)
                heapq.heappush(self._retry, item)
            return
        with self.delivered:
            self.sent += 1
            self.delivered.notify_all()

    def wait_sent(self, count: int, timeout_s: float) -> bool:
        """Block until ``count`` notifications went out (tests, shutdown)."""
        with self.delivered:
            return self.delivered.wait_for(lambda: self.sent >= count, timeout_s)

    def stop(self, timeout_s: float = 10.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout_s)


class Dispatcher:
    """The engine's notifier: fans each change out to every route that accepts it."""

    def __init__(self, workers: list[RouteWorker]) -> None:
        self.workers = workers

    def submit(self, note: Notification) -> None:
        for worker in self.workers:
            try:
                worker.submit(note)
            except Exception:
                log.exception("route %s refused alarm %s", worker.channel.name, note.key)

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
