"""Publish the simulated plant live over MQTT: paced to the wall clock, QoS 1, back-pressured.

Topics come from :mod:`plant.topics` (site and area from the plant config), payloads from
:mod:`plant.codec`; the broker connection and its window of unacknowledged messages from
:mod:`plant.broker.publish`.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import threading
import time
from collections.abc import Iterable, Iterator

from plant import codec, topics
from plant.broker.publish import AvailabilityPublisher, PublishAbortedError
from plant.config import PlantConfig
from plant.mqtt import BrokerUrl
from plant.readings import Reading
from plant.sim.plant import PlantSimulator

log = logging.getLogger(__name__)


class TopicMap:
    """A reading's topic from the plant config (site and area of its asset), cached."""

    def __init__(self, config: PlantConfig) -> None:
        self._where = {a.id: (a.site, a.area) for a in config.resolved_assets}
        self._cache: dict[tuple[str, str, str], str] = {}

    def topic(self, r: Reading) -> str:
        key = (r.header.asset, r.header.sensor, r.modality)
        found = self._cache.get(key)
        if found is None:
            site, area = self._where[r.header.asset]
            found = topics.reading_topic(site, area, *key)
            self._cache[key] = found
        return found


@dataclasses.dataclass
class PublishStats:
    """Counts since start, per modality; ``lag_s``: the worst delay behind the paced schedule
    since the start, ``recent_lag_s`` since the last :meth:`mark`."""

    messages: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    bytes: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    lag_s: float = 0.0
    started: float = dataclasses.field(default_factory=time.monotonic)
    recent_lag_s: float = 0.0

    def behind(self, lag_s: float) -> None:
        self.lag_s = max(self.lag_s, lag_s)
        self.recent_lag_s = max(self.recent_lag_s, lag_s)

    def add(self, modality: str, size: int) -> None:
        self.messages[modality] += 1
        self.bytes[modality] += size

    @property
    def total(self) -> int:
        return sum(self.messages.values())

    def summary(self, since: PublishStats | None = None) -> str:
        """msgs/s and MB/s (per modality) since ``since`` (a copy taken earlier) or the start."""
        msgs = self.messages - (since.messages if since else collections.Counter())
        nbytes = self.bytes - (since.bytes if since else collections.Counter())
        dt = max(time.monotonic() - (since.started if since else self.started), 1e-9)
        parts = ", ".join(f"{m} {n / dt:.1f}/s" for m, n in sorted(msgs.items()))
        return (
            f"{sum(msgs.values()) / dt:.1f} msg/s, {sum(nbytes.values()) / dt / 1e6:.2f} MB/s "
            f"({parts or 'nothing'}); worst lag {self.recent_lag_s if since else self.lag_s:.2f} s"
        )

    def mark(self) -> PublishStats:
        """A copy to measure the next period against; the recent lag starts again from 0."""
        copy = PublishStats(self.messages.copy(), self.bytes.copy(), self.lag_s, time.monotonic())
        self.recent_lag_s = 0.0
        return copy


def paced(
    readings: Iterable[Reading],
    start_ns: int,
    speedup: float,
    stop: threading.Event,
    stats: PublishStats | None = None,
) -> Iterator[Reading]:
    """Yield each reading when the wall clock reaches its time (plant time / ``speedup``).

    ``speedup`` 0 means as fast as possible. Stops early once ``stop`` is set. The schedule
    follows the latest reading time seen, so a reading the simulator delays on purpose (or a
    skewed sensor clock) goes out at once without counting as lag. A publisher that falls
    behind (a slow broker) is not made to skip: it catches up, and the lag is recorded.
    """
    t0 = time.monotonic()
    latest_ns = start_ns
    for r in readings:
        if stop.is_set():
            return
        if speedup > 0 and r.header.ts_ns > latest_ns:
            latest_ns = r.header.ts_ns
            delay = t0 + (latest_ns - start_ns) / 1e9 / speedup - time.monotonic()
            if delay > 0:
                if stop.wait(delay):
                    return
            elif stats is not None:
                stats.behind(-delay)
        yield r


def auto_step_s(n_assets: int) -> float:
    """Plant seconds per simulator call: each call has a fixed cost per asset (measured ~12 ms),
    so larger plants take longer steps (200 assets: 60 s; its ~1,300 readings/s then outpace the
    plant's ~40/s); small ones short steps, so the first readings go out at once."""
    return min(600.0, max(10.0, 0.3 * n_assets))


def stepped(sim: PlantSimulator, until_ns: int, step_ns: int) -> Iterator[Reading]:
    """The simulator's readings, generated ``step_ns`` of plant time at a time (bounded memory,
    first reading out at once); the same readings as one call, held-back ones a little earlier."""
    now = sim.now_ns
    while now < until_ns:
        now = min(until_ns, now + step_ns)
        yield from sim.readings(now)


def publish_readings(
    readings: Iterable[Reading],
    publisher: AvailabilityPublisher,
    topic_map: TopicMap,
    stop: threading.Event,
    *,
    stats: PublishStats | None = None,
    log_every_s: float = 10.0,
) -> PublishStats:
    """Encode and publish every reading; log rates every ``log_every_s``. Returns the counts."""
    stats = stats or PublishStats()
    window = stats.mark()
    for r in readings:
        payload = codec.encode(r)
        publisher.publish(topic_map.topic(r), payload, stop=stop)
        stats.add(r.modality.value, len(payload))
        if time.monotonic() - window.started >= log_every_s:
            log.info("published %s; %d unacked", stats.summary(window), publisher.unacked)
            window = stats.mark()
    return stats


@dataclasses.dataclass(frozen=True, slots=True)
class LiveSettings:
    """How to run the live simulation. ``duration_s``: plant seconds to publish (None: forever)."""

    seed: int = 0
    start_ns: int | None = None  # default: now, whole seconds
    speedup: float = 1.0  # 0: as fast as the broker acknowledges
    duration_s: float | None = None
    component: str = "simulator"
    window: int = 1000
    log_every_s: float = 10.0
    step_s: float | None = None  # plant time per simulator call; None: by plant size
    templates: bool = False  # scale mode: replay representatives' readings (plant.sim.fanout)
    reps_per_family: int = 2
    connect_timeout_s: float = 60.0  # keep retrying an unreachable broker this long


FOREVER_S = 100 * 365 * 86_400.0


def connect_publisher(
    config: PlantConfig,
    broker: BrokerUrl,
    settings: LiveSettings,
    stop: threading.Event,
    password: str | None,
) -> AvailabilityPublisher | None:
    """Connect, retrying with back-off while the broker is unreachable for up to
    ``settings.connect_timeout_s``; None if stopped meanwhile, ConnectionError past the limit."""
    deadline = time.monotonic() + settings.connect_timeout_s
    delay = 0.5
    while True:
        try:
            return AvailabilityPublisher(
                broker,
                password=password,
                component=settings.component,
                qos=config.broker.qos,
                window=settings.window,
            )
        except ConnectionError as exc:
            if time.monotonic() + delay > deadline:
                raise
            log.warning("%s; retrying in %.1f s", exc, delay)
        if stop.wait(delay):
            return None
        delay = min(delay * 2, 10.0)


def simulate_live(
    config: PlantConfig,
    broker: BrokerUrl,
    settings: LiveSettings,
    stop: threading.Event,
    password: str | None = None,
) -> tuple[PublishStats, bool]:
    """Publish the simulated plant until the duration is over or ``stop`` is set.

    Returns the counts and whether every message was acknowledged by the broker.
    """
    start_ns = settings.start_ns
    if start_ns is None:
        start_ns = time.time_ns() // 1_000_000_000 * 1_000_000_000
    until_ns = start_ns + int((settings.duration_s or FOREVER_S) * 1e9)
    publisher = connect_publisher(config, broker, settings, stop, password)
    if publisher is None:
        return PublishStats(), True
    stats = PublishStats()
    log.info(
        "simulating %d assets from %d (seed %d, speedup %s) to %s",
        len(config.resolved_assets),
        start_ns,
        settings.seed,
        settings.speedup or "max",
        broker,
    )
    readings = _readings(config, settings, start_ns, until_ns)
    try:
        publish_readings(
            paced(readings, start_ns, settings.speedup, stop, stats),
            publisher,
            TopicMap(config),
            stop,
            stats=stats,
            log_every_s=settings.log_every_s,
        )
    except PublishAbortedError as exc:
        log.warning("%s", exc)
    finally:
        drained = publisher.close()
    log.info("published %d messages in all: %s", stats.total, stats.summary())
    return stats, drained


def _readings(
    config: PlantConfig, settings: LiveSettings, start_ns: int, until_ns: int
) -> Iterator[Reading]:
    if not settings.templates:
        sim = PlantSimulator(config, settings.seed, start_ns)
        step_s = settings.step_s or auto_step_s(len(config.resolved_assets))
        log.info("simulator steps: %.0f s of plant time per call", step_s)
        return stepped(sim, until_ns, int(step_s * 1e9))
    from plant.readings import Modality
    from plant.sim import fanout

    span_s = max(
        min(s.period_s, 3600.0)
        for a in config.resolved_assets
        for s in a.sensors
        if s.modality is not Modality.NOTES
    )
    templates = fanout.build_templates(
        config, settings.seed, start_ns, span_s, settings.reps_per_family
    )
    return fanout.fanout_readings(config, templates, start_ns, until_ns, start_ns // 10**9)
