"""The scoring service: MQTT readings -> windows -> health events -> MQTT, store, alarm engine.

Threads: paho's network thread only stamps arrival times and enqueues; one worker thread does
everything else in order (validate, assemble, score, publish, feed the alarm engine), so the
window assembler and the model's per-asset cache have a single writer. A model load (start, or a
promotion seen on the registry's ``ACTIVE`` pointer) compiles in a background thread; the worker
swaps it in *between* two batches after priming it with every asset's current window, so no
window is lost or scored twice across a reload.

Per-asset baselines (models/baseline.py) persist in the state directory (``state_dir``;
models/serving/state.py): loaded with the model (for its input config), kept in memory across
a reload with the same input config, saved every ``baseline_save_s`` when they changed, right
after a maintenance end resets one, and on the way out. Saves run in a background thread from
a snapshot, so the stream does not wait for the disk.

Python's cyclic garbage collector is kept off the stream (models/serving/heap.py): what is
alive at a model swap is frozen, and the worker collects the rest on a schedule between batches.

Every XLA compilation is counted (models/serving/compiles.py); one on the worker thread after
the model is warm is a stall of the stream and is logged as a warning.

Dynamic batching under a latency bound: the worker takes every message waiting, then keeps
collecting for at most ``max_wait_ms`` after the first one (or until ``max_batch`` windows),
and scores them together at the smallest compiled bucket that holds them.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from ingest.assembly import WindowAssembler
from ingest.validate import Accepted, Validator
from ingest.window import Window
from models import registry
from models.serving.compiles import CompileCounter
from models.serving.heap import HeapKeeper
from models.serving.live import LiveScorer
from models.serving.quality import QualityWatch
from models.serving.state import BaselineFile, same_inputs, signature, snapshot
from plant import topics
from plant.config import PlantConfig
from plant.events import HealthEvent
from plant.readings import ContextReading

log = logging.getLogger(__name__)
NS = 1_000_000_000


@dataclasses.dataclass
class ServeSettings:
    registry: Path
    max_batch: int = 1024  # windows per scoring call at most
    max_wait_ms: float = 100.0  # the batching latency bound (100: ~22 % less CPU than 50)
    explain_below_p: float | None = None  # default: the alarm alpha
    explain_reuse_s: float = 60.0  # an asset's explanation younger than this is reused
    store_flush_s: float = 60.0  # scores reach the store at least this often
    model_poll_s: float = 2.0  # how often ACTIVE is checked
    health_qos: int = 1
    state_dir: Path | None = None  # per-asset baselines persist here (None: not persisted)
    baseline_save_s: float = 300.0  # changed baselines are saved at least this often
    warm: bool = True  # compile every bucket (and an explanation) before a model is used


@dataclasses.dataclass
class ServeStats:
    messages: int = 0
    rejected: int = 0
    windows: int = 0
    events: int = 0
    batches: int = 0
    explanations: int = 0
    reloads: int = 0
    score_s: float = 0.0
    primed: int = 0
    baseline_saves: int = 0
    stream_compiles: int = 0  # XLA compilations on the worker after the model was warm


class ScoringService:
    """See the module docstring. ``engine``: the alarm engine fed in-process (optional)."""

    def __init__(
        self,
        config: PlantConfig,
        settings: ServeSettings,
        *,
        client: mqtt.Client | None,
        engine: Any = None,
        store_root: str | Path | None = None,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.config = config
        self.settings = settings
        self.client = client
        self.engine = engine
        self.clock = clock
        self.store_root = Path(store_root) if store_root else None
        self.inbox: queue.SimpleQueue[tuple[str, bytes, int]] = queue.SimpleQueue()
        self.validator = Validator(config)
        self.assembler = WindowAssembler(config)
        self.quality = QualityWatch()
        self.stats = ServeStats()
        self.lock = threading.RLock()  # assembler + live scorer (API threads read them)
        self.live: LiveScorer | None = None
        self.latest: dict[str, HealthEvent] = {}
        self._explained: dict[str, tuple[int, dict]] = {}  # asset -> (window ts, explanation)
        self._area = {a.id: (a.site, a.area) for a in config.resolved_assets}
        self._loader = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="model-load")
        self._loading: tuple[str, concurrent.futures.Future] | None = None
        self._version: str | None = None
        self._next_poll = 0.0
        self._pending_scores: list[HealthEvent] = []
        self._flusher = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="score-write")
        self._flush_future: concurrent.futures.Future[list[HealthEvent]] | None = None
        self._next_store_flush = time.monotonic() + settings.store_flush_s
        self.ready = threading.Event()  # a model is loaded and primed
        self._resets: queue.SimpleQueue[str] = queue.SimpleQueue()  # baselines to restart
        self.newest_ns = 0  # newest reading time seen (the ``readings`` clock)
        alpha = config.alarms.persistence.alpha
        self.explain_below = settings.explain_below_p or alpha
        self.baseline_file = BaselineFile(settings.state_dir) if settings.state_dir else None
        self._saver = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="state-save")
        self._save_future: concurrent.futures.Future | None = None
        self._saved_sig: tuple | None = None
        self._save_now = False
        self._next_baseline_save = time.monotonic() + settings.baseline_save_s
        self._pending_resets: set[str] = set()  # maintenance ended before a model was loaded
        self._worker: threading.Thread | None = None
        self.compiles = CompileCounter(on_compile=self._on_compile).start()
        self.heap = HeapKeeper()  # the garbage collector's pauses, off the stream (heap.py)

    # ------------------------------------------------------------------------ MQTT in

    def on_message(self, _c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        self.inbox.put((msg._topic.decode("utf-8", "replace"), msg.payload, time.time_ns()))

    def subscribe(self) -> None:
        """Subscribe to every reading (QoS 1); safe to call again after a reconnect."""
        if self.client is not None:
            self.client.message_callback_add(topics.readings_filter(), self.on_message)
            self.client.subscribe(topics.readings_filter(), qos=1)

    # ------------------------------------------------------------------------ models

    def poll_model(self, block: bool = False) -> None:
        """Start loading the active model if it changed; swap it in once compiled."""
        now = time.monotonic()
        if self._loading is None and (block or now >= self._next_poll):
            self._next_poll = now + self.settings.model_poll_s
            version = registry.active_version(self.settings.registry)
            if version is not None and version != self._version:
                log.info("active model is now %s: loading it", version)
                path = Path(self.settings.registry) / version
                assets = self.config.resolved_assets
                self._loading = (version, self._loader.submit(self._load, path, assets))
        if self._loading is not None and (block or self._loading[1].done()):
            version, future = self._loading
            self._loading = None
            try:
                live = future.result()
            except Exception:
                log.exception("model %s could not be loaded; keeping the current one", version)
                self._version = version  # not retried until ACTIVE changes again
                return
            with self.lock:
                self.stats.primed += live.prime(self._current_windows())
                old = self.live
                if old is not None:
                    self.stats.reloads += 1
                    log.info("model %s replaces %s", live.version, old.version)
                    if same_inputs(old.baselines, live.baselines):
                        live.baselines = old.baselines  # newer than the file
                self.live, self._version = live, version
                self._explained.clear()
                for asset in sorted(self._pending_resets):
                    live.reset_baseline(asset)
                    self._save_now = True
                self._pending_resets.clear()
                if live.baselines is not None:
                    self._saved_sig = signature(live.baselines)
                self.heap.settle()  # the new model frozen, the old one collected
            self.ready.set()

    def _load(self, path: Path, assets: list) -> LiveScorer:
        """(Loader thread) a model compiled and warm, with its input config's saved baselines."""
        rule = self.config.alarms.persistence  # notes-free p-values where the engine reads them
        live = LiveScorer(path, assets, warm=self.settings.warm, sensors_below=rule.alpha_off)
        current = self.live
        if current is not None and same_inputs(current.baselines, live.baselines):
            return live  # the live baselines carry over at the swap: newer than the file
        if self.baseline_file is not None and live.baselines is not None:
            loaded = self.baseline_file.load(live.baselines.cfg)
            if loaded is not None:
                live.baselines = loaded
        return live

    def _on_compile(self, name: str, seconds: float) -> None:
        if self.ready.is_set() and threading.current_thread() is self._worker:
            self.stats.stream_compiles += 1
            log.warning("the stream waited %.2f s for an XLA compilation of %s", seconds, name)

    def _current_windows(self) -> list[Window]:
        out = []
        for a in self.config.resolved_assets:
            tl = self.assembler._timelines.get(a.id)
            if tl is not None and tl.now_ns > 0:
                out.append(tl.window(tl.now_ns))
        return out

    def rebuild(self, reader: object, now_ns: int | None = None) -> int:
        """After a restart: the latest windows from the store (incl. the WAL) into the
        assembler; the model's cache is primed from them when the model is swapped in."""
        now_ns = self.clock() if now_ns is None else now_ns
        with self.lock:
            windows = self.assembler.rebuild_from_store(reader, now_ns)
            if self.live is not None:
                self.live.prime(windows)
        log.info("rebuilt %d assets' windows from the store", len(windows))
        return len(windows)

    def reset_baseline(self, asset: str, _ts_ns: int = 0) -> None:
        """An alarm-engine baseline listener (maintenance ended); applied by the worker."""
        self._resets.put(asset)

    def readings_clock(self) -> int:
        """The newest reading time seen (wall time before any): for replays and speeded-up
        simulations, where reading times run apart from the wall clock."""
        return self.newest_ns or time.time_ns()

    # ------------------------------------------------------------------------ the worker

    def run(self, stop: threading.Event) -> None:
        """The worker loop, until ``stop``; the last scores are written on the way out."""
        self._worker = threading.current_thread()
        try:
            while not stop.is_set():
                self.poll_model()
                msgs = self._collect(stop)
                if msgs:
                    self.process(msgs)
                self.maintain()
        finally:
            self.close()

    def maintain(self) -> None:
        """(Worker) apply maintenance resets of baselines; write scores and baselines when due."""
        while not self._resets.empty():
            asset = self._resets.get()
            with self.lock:
                if self.live is not None:
                    self.live.reset_baseline(asset)
                    self._save_now = True  # a reset must survive a crash right after it
                else:
                    self._pending_resets.add(asset)
            log.info("maintenance ended on %s: its baseline starts again", asset)
        self._maybe_flush_store()
        self._maybe_save_baselines()
        self.heap.maintain()

    def close(self) -> None:
        """Write the last scores and the baselines (waiting for both); stop the helpers."""
        self._flush_store(wait=True)
        self._flusher.shutdown(wait=True)
        if self._save_future is not None:
            self._save_future.result()
        self._maybe_save_baselines(force=True, wait=True)
        self._loader.shutdown(wait=False, cancel_futures=True)
        self._saver.shutdown(wait=True)
        self.compiles.stop()

    def _maybe_save_baselines(self, force: bool = False, wait: bool = False) -> None:
        live = self.live
        if self.baseline_file is None or live is None or live.baselines is None:
            return
        due = force or self._save_now or time.monotonic() >= self._next_baseline_save
        if not due or (self._save_future is not None and not self._save_future.done()):
            return
        self._next_baseline_save = time.monotonic() + self.settings.baseline_save_s
        with self.lock:
            sig = signature(live.baselines)
            if sig == self._saved_sig and not self._save_now:
                return
            copy = snapshot(live.baselines)
        self._save_now = False
        self._save_future = self._saver.submit(self._save_baselines, copy, sig)
        if wait:
            self._save_future.result()

    def _save_baselines(self, copy: Any, sig: tuple) -> None:
        assert self.baseline_file is not None
        try:
            self.baseline_file.save(copy)
        except Exception:  # retried at the next period; the live baselines are unaffected
            log.exception("could not save the baselines to %s", self.baseline_file.dir)
            return
        self._saved_sig = sig
        self.stats.baseline_saves += 1

    def _collect(self, stop: threading.Event) -> list[tuple[str, bytes, int]]:
        try:
            first = self.inbox.get(timeout=0.2)
        except queue.Empty:
            return []
        msgs = [first]
        deadline = time.monotonic() + self.settings.max_wait_ms / 1000
        limit = self.settings.max_batch * 4  # context readings make no window
        while len(msgs) < limit and not stop.is_set():
            try:
                msgs.append(self.inbox.get_nowait())
                continue
            except queue.Empty:
                pass
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                msgs.append(self.inbox.get(timeout=left))
            except queue.Empty:
                break
        return msgs

    def process(self, msgs: list[tuple[str, bytes, int]]) -> list[HealthEvent]:
        """Validate, assemble, score and hand on one batch of messages; the events made."""
        windows: list[Window] = []
        eng = self.engine
        with self.lock:
            for topic, payload, arrival in msgs:
                self.stats.messages += 1
                verdict = self.validator.check(topic, payload, arrival)
                if not isinstance(verdict, Accepted):
                    self.stats.rejected += 1
                    continue
                r = verdict.reading
                h = r.header
                self.newest_ns = max(self.newest_ns, h.ts_ns)
                if eng is not None:
                    eng.on_reading(h.asset, h.sensor, h.ts_ns)
                    if isinstance(r, ContextReading):
                        eng.on_context(h.asset, r.state, h.ts_ns)
                    for asset, sensor, kind, ts, active in self.quality.check(r):
                        eng.on_data_quality(asset, sensor, kind, ts, active)
                w = self.assembler.add(r, arrival)
                if w is not None:
                    windows.append(w)
            self.stats.windows += len(windows)
            live = self.live
            if live is None or not windows:
                return []  # no model yet: windows still build up state for when one comes
            events: list[HealthEvent] = []
            t0 = time.perf_counter()
            for start in range(0, len(windows), self.settings.max_batch):
                events += live.score(windows[start : start + self.settings.max_batch])
            self.stats.score_s += time.perf_counter() - t0
            self.stats.batches += 1
            events = self._explain_where_needed(live, windows, events)
        self._hand_on(events)
        return events

    def _explain_where_needed(
        self, live: LiveScorer, windows: list[Window], events: list[HealthEvent]
    ) -> list[HealthEvent]:
        """Windows that may raise or update an alarm carry the explanation: p below the alarm
        alpha and, with the alarm engine in-process, only where the engine says this many low
        p-values could raise, update or be judged against a machine alarm
        (``AlarmEngine.may_use_explanation``: e.g. not the first or second low slot of k = 3 of
        an asset without a standing alarm). An asset's explanation of a window less than
        ``explain_reuse_s`` older is reused (its own ``ts_ns`` says which window it explains)."""
        by_key = {(w.asset, w.ts_ns): w for w in windows}
        out = []
        reuse_ns = int(self.settings.explain_reuse_s * NS)
        low: dict[str, int] = {}
        first: dict[str, int] = {}
        for ev in events:
            if ev.p_value < self.explain_below:
                low[ev.asset] = low.get(ev.asset, 0) + 1
                first[ev.asset] = min(first.get(ev.asset, ev.ts_ns), ev.ts_ns)
        peek = getattr(self.engine, "may_use_explanation", None)
        for ev in events:
            if ev.p_value >= self.explain_below or (
                peek is not None and not peek(ev.asset, low[ev.asset], first[ev.asset])
            ):
                out.append(ev)
                continue
            cached = self._explained.get(ev.asset)
            if cached is not None and 0 <= ev.ts_ns - cached[0] <= reuse_ns:
                out.append(dataclasses.replace(ev, explanation=cached[1]))
                continue
            w = by_key.get((ev.asset, ev.ts_ns))
            if w is None:
                out.append(ev)
                continue
            expl = self._explain(live, w)
            out.append(dataclasses.replace(ev, explanation=expl))
        return out

    def _explain(self, live: LiveScorer, w: Window) -> dict | None:
        expl = dict(live.explain(w))
        expl["ts_ns"] = int(w.ts_ns)
        try:
            json.dumps(expl, allow_nan=False)
        except ValueError:
            log.warning("explanation of %s at %d is not finite: left out", w.asset, w.ts_ns)
            return None
        self._explained[w.asset] = (int(w.ts_ns), expl)
        self.stats.explanations += 1
        return expl

    def _hand_on(self, events: list[HealthEvent]) -> None:
        self.stats.events += len(events)
        for ev in events:
            self.latest[ev.asset] = ev
            if self.engine is not None:
                self.engine.on_health(ev)
            if self.client is not None:
                site, area = self._area[ev.asset]
                self.client.publish(
                    topics.health_topic(site, area, ev.asset),
                    ev.to_json(),
                    qos=self.settings.health_qos,
                )
        if self.store_root is not None:
            self._pending_scores.extend(events)

    # ------------------------------------------------------------------------ on request

    def explain_latest(self, asset: str) -> dict | None:
        """The asset's latest window, explained now (None: no model or no data for it)."""
        with self.lock:
            live = self.live
            tl = self.assembler._timelines.get(asset)
            if live is None or tl is None or tl.now_ns <= 0:
                return None
            w = tl.window(tl.now_ns)
            expl = self._explain(live, w)
        if expl is None:
            return None
        return {
            "asset": asset,
            "ts_ns": int(w.ts_ns),
            "model_version": live.version,
            "present": {m.value: bool(v) for m, v in w.present.items()},
            "explanation": expl,
        }

    # ------------------------------------------------------------------------ the store

    def _maybe_flush_store(self) -> None:
        if self.store_root is not None and time.monotonic() >= self._next_store_flush:
            self._flush_store()

    def _flush_store(self, wait: bool = False) -> None:
        """Hand the pending scores to the writer thread (a minute of a 5,000-asset plant is
        ~0.5 s of conversion and Parquet: on the worker it stalled the stream, SV session 6).
        A write still running keeps the new scores for the next period; ``wait``: this write
        and the one before it are done on return. Scores a write could not store come back
        to the front of the pending ones."""
        self._next_store_flush = time.monotonic() + self.settings.store_flush_s
        if self.store_root is None:
            return
        running = self._flush_future
        if running is not None:
            if not running.done() and not wait:
                return
            self._flush_future = None
            self._pending_scores[:0] = running.result()  # the unwritten ones, oldest first
        if not self._pending_scores:
            return
        events, self._pending_scores = self._pending_scores, []
        self._flush_future = self._flusher.submit(_write_scores, self.store_root, events)
        if wait:
            self._pending_scores[:0] = self._flush_future.result()
            self._flush_future = None


def _write_scores(store_root: Path, events: list[HealthEvent]) -> list[HealthEvent]:
    """(Writer thread) the events into the store's scores; those not written (none, or all)."""
    from ingest.store import ScoreWriter

    try:
        with ScoreWriter(store_root) as w:  # of explanations it keeps the Shapley values
            w.write(events)
    except Exception as exc:  # scores are derived data: keep them and retry later
        log.warning("could not write %d scores to the store (retrying): %s", len(events), exc)
        return events
    return []
