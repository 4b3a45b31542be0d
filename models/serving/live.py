"""The live scorer: windows in, health events out, with incremental fusion and bucketed shapes.

A window produced by a reading of modality m (its ``trigger``) re-encodes only m; fusion reruns
with the other modalities' cached encodings (``Scorer.score_incremental``). The scorer remembers,
per asset, which modalities its cache holds as present: when a window shows a modality gone stale
(or back), that modality is re-encoded too (as absent, so fusion no longer reads its old tokens),
and the event says which modalities were present and how stale each was. A window without a
trigger (a restart's rebuilt windows) re-encodes every modality.

An asset appears at most once per fused call (``rounds``), so two readings of one asset in the
same batch are scored one after the other, each once. Every plant asset gets its cache slot at
load and every bucket is compiled then (``Scorer.reserve`` / ``Scorer.warm``), so a new batch
size or a new asset never stalls the stream on a recompile.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ingest.window import Window
from models.scoring import Scorer
from models.serving.health import (
    fault_of,
    group_of,
    health_from_p,
    load_calibration,
    load_range,
)
from plant.config import Asset
from plant.events import HealthEvent
from plant.readings import MODEL_MODALITIES, Modality

log = logging.getLogger(__name__)
NAMES = [m.value for m in MODEL_MODALITIES]


class LiveScorer:
    """One model, loaded, warmed and primed; ``score(windows)`` -> health events."""

    def __init__(
        self,
        model_dir: str | Path,
        assets: Sequence[Asset],
        *,
        warm: bool = True,
        sensors_below: float = 0.05,
    ):
        """``sensors_below``: windows with notes whose p-value is below this also get
        ``p_value_sensors``, their p-value with the notes left out (the alarm engine's notes
        rule reads it; serve passes the engine's clearing threshold, alpha x deadband)."""
        t0 = time.perf_counter()
        self.model_dir = Path(model_dir)
        self.scorer = Scorer.load(self.model_dir)
        self.version = self.scorer.version
        self.calibration = load_calibration(self.model_dir)
        self.assets = {a.id: a for a in assets}
        self.scorer.reserve(sorted(self.assets))
        self._encoded: dict[str, np.ndarray] = {}  # asset -> (4,) presence held in the cache
        # asset -> (3,) which baselines (vibration, thermal, camera) the cached encodings read
        self._encoded_ready: dict[str, np.ndarray] = {}
        self._explainer: Any = None
        self.sensors_below = sensors_below
        self.unscorable = 0
        self._warmed = warm
        self.warm_s = self._warm() if warm else 0.0
        log.info(
            "model %s loaded in %.1f s (%d assets, buckets %s compiled in %.1f s)",
            self.version,
            time.perf_counter() - t0,
            len(self.assets),
            self.scorer.buckets,
            self.warm_s,
        )

    def add_assets(self, assets: Sequence[Asset], warm: bool | None = None) -> bool:
        """Score these assets too (a plant that grows while serving). Within the incremental
        cache's capacity (a power of two: ``models.scoring.cache_capacity``) nothing compiles;
        past it the cache doubles and the incremental path is compiled again at every bucket
        here (``warm``; default: whether this scorer was warmed at load), before any of their
        windows is scored. Whether it grew."""
        new = [a for a in assets if a.id not in self.assets]
        self.assets.update({a.id: a for a in new})
        grew = self.scorer.reserve(sorted(a.id for a in new))
        if grew:
            log.info("%d assets: incremental cache now %d slots", len(self.assets),
                     self.scorer.capacity)  # fmt: skip
            if self._warmed if warm is None else warm:
                self.warm_s += self.scorer.warm(full_rows=None)
        return grew

    @property
    def baselines(self) -> Any:
        """The scorer's per-asset baselines (models/baseline.py), or None without them."""
        return getattr(self.scorer, "baselines", None)

    @baselines.setter
    def baselines(self, value: Any) -> None:
        self.scorer.baselines = value

    def _warm(self) -> float:
        """Compile before the stream: the incremental path at every bucket, the baselines'
        spectra at every bucket, and one explanation (the first alarm must not wait for it)."""
        t0 = time.perf_counter()
        self.scorer.warm()
        try:
            from models.batch import make_batch, pad_batch
            from models.scoring import raw_spectra
        except ImportError:  # a scorer without per-asset baselines
            raw_spectra = None
        if raw_spectra is not None:
            for size in self.scorer.buckets:
                chunk = pad_batch(make_batch([], self.scorer.cfg.inputs, 1), size)
                np.asarray(raw_spectra(chunk, self.scorer.cfg))
        if self.assets:
            a = next(iter(self.assets.values()))
            empty = Window(a.id, a.type, 0, None, None, None, (), None, {})
            try:
                self.explain(empty)
            except Exception:  # warming only; a real window is explained later
                log.warning("could not pre-compile the explanation", exc_info=True)
        return time.perf_counter() - t0

    # ------------------------------------------------------------------------ scoring

    def prime(self, windows: Sequence[Window]) -> int:
        """Encode every modality of these windows into the cache (no events); how many."""
        ws = [w for w in windows if w.asset in self.assets]
        if ws:
            self.scorer.prime([w.asset for w in ws], self.scorer.batch(ws))
            for w in ws:
                self._encoded[w.asset] = w.mask
                self._encoded_ready[w.asset] = self._ready_now(w.asset)
        return len(ws)

    def _ready_now(self, asset: str) -> np.ndarray:
        base = self.baselines
        return _NO_BASE if base is None else np.asarray(base.ready(asset), bool)

    def score(self, windows: Sequence[Window], scored_ns: int | None = None) -> list[HealthEvent]:
        """One health event per window, in the windows' order (none for an unknown asset or a
        window whose score is not finite, counted in ``unscorable``)."""
        out: list[HealthEvent | None] = [None] * len(windows)
        known = [(i, w) for i, w in enumerate(windows) if w.asset in self.assets]
        # Each window is scored with its asset's baselines as they were right after it was
        # observed, as training featurises (models/dataset.py) and as one window at a time
        # would be: a baseline that freezes at a later window of this call is not read by the
        # earlier ones, so scores do not depend on how readings were batched.
        ready = np.zeros((len(windows), 3), bool)
        if known and self.baselines is not None:  # per-asset normal baselines (MQ)
            ready[[i for i, _ in known]] = self.scorer.observe([w for _, w in known])
        for part in rounds(known):
            index = {(w.asset, w.ts_ns, w.trigger): i for i, w in part}
            rows = np.array([i for i, _ in part])
            for ev in self._score_round([w for _, w in part], ready[rows]):
                trig = None if ev.trigger is None else MODEL_MODALITIES[NAMES.index(ev.trigger)]
                out[index[(ev.asset, ev.ts_ns, trig)]] = ev
        stamp = time.time_ns() if scored_ns is None else scored_ns
        return [ev if ev.scored_ns else _with(ev, scored_ns=stamp) for ev in out if ev is not None]

    def _score_round(self, ws: list[Window], ready: np.ndarray) -> list[HealthEvent]:
        b = _as_of(self.scorer.batch(ws), ready)
        masks = np.stack([w.mask for w in ws])
        ids = [w.asset for w in ws]
        trig = np.array([_trigger_index(w) for w in ws])
        # No trigger (a restart's rebuilt window): every modality is re-encoded, the last fuses.
        fuse = np.where(trig < 0, len(NAMES) - 1, trig)
        # First re-encode what changed presence, or whose baseline froze (or restarted), since
        # it was encoded (scores not kept) ...
        held = [self._encoded.get(w.asset, _NONE) for w in ws]
        held_ready = [self._encoded_ready.get(w.asset, _NO_BASE) for w in ws]
        for m in range(len(NAMES)):
            idx = [
                i
                for i in range(len(ws))
                if fuse[i] != m
                and (
                    trig[i] < 0
                    or held[i][m] != masks[i, m]
                    or (m < ready.shape[1] and held_ready[i][m] != ready[i, m])
                )
            ]
            if idx:
                self.scorer.score_incremental([ids[i] for i in idx], MODEL_MODALITIES[m], b,
                                              rows=np.array(idx))  # fmt: skip
        # ... then the trigger modality, whose fused call gives the score.
        scores = np.zeros(len(ws), np.float32)
        logits: np.ndarray | None = None
        for m in range(len(NAMES)):
            idx = np.flatnonzero(fuse == m)
            if not idx.size:
                continue
            s, aux = self.scorer.score_incremental([ids[i] for i in idx], MODEL_MODALITIES[m],
                                                   b, rows=idx)  # fmt: skip
            scores[idx] = s
            if logits is None:
                logits = np.zeros((len(ws), aux["fault_logits"].shape[1]), np.float32)
            logits[idx] = aux["fault_logits"]
        for w, mask, r in zip(ws, masks, ready, strict=True):
            self._encoded[w.asset] = mask
            self._encoded_ready[w.asset] = r
        assert logits is not None
        based = np.all(ready | ~masks[:, : ready.shape[1]], axis=1)
        if self.baselines is None:  # a scorer without per-asset baselines: no such regime
            based[:] = True
        return self._events(ws, masks, scores, logits, based)

    def _sensors_p(
        self, ws: list[Window], masks: np.ndarray, p: np.ndarray, based: np.ndarray
    ) -> np.ndarray:
        """(N,) the p-value without the notes where notes are present and ``p`` is below
        ``sensors_below`` (NaN elsewhere): fused from the cache, nothing re-encoded."""
        out = np.full(len(ws), np.nan)
        notes = NAMES.index(Modality.NOTES.value)
        rows = np.flatnonzero(masks[:, notes] & (p < self.sensors_below))
        if not rows.size:
            return out
        s = self.scorer.score_without([ws[i].asset for i in rows], Modality.NOTES)
        without = masks[rows].copy()
        without[:, notes] = False
        groups = [group_of(ws[i].asset_type, [bool(x) for x in m], bool(based[i]))
                  for i, m in zip(rows, without, strict=True)]  # fmt: skip
        out[rows] = np.asarray(self.calibration.p_values(s, groups), np.float64)
        return out

    def _events(
        self,
        ws: list[Window],
        masks: np.ndarray,
        scores: np.ndarray,
        logits: np.ndarray,
        based: np.ndarray,
    ) -> list[HealthEvent]:
        """``based`` (N,): the asset's baselines are frozen for every present modality with
        one (else its window is calibrated against the ``nobase`` groups)."""
        groups = [group_of(w.asset_type, [bool(x) for x in masks[i]], bool(based[i]))
                  for i, w in enumerate(ws)]  # fmt: skip
        calibration: Any = self.calibration
        p = np.asarray(calibration.p_values(scores, groups), np.float64)
        health = health_from_p(p)
        faults, fault_p = fault_of(logits)
        sensors_p = self._sensors_p(ws, masks, p, based)
        if getattr(self.calibration, "group", None) == "uncalibrated":
            groups = ["uncalibrated"] * len(ws)
        events = []
        for i, w in enumerate(ws):
            if not (math.isfinite(float(scores[i])) and math.isfinite(float(fault_p[i]))):
                self.unscorable += 1  # e.g. thermal before any process context: NaN inputs
                if self.unscorable in (1, 100, 10_000):
                    log.warning("%d windows could not be scored (non-finite score), e.g. %s "
                                "at %d; no health event for them", self.unscorable, w.asset,
                                w.ts_ns)  # fmt: skip
                continue
            present = {n: bool(masks[i, j]) for j, n in enumerate(NAMES)}
            stale = {
                m.value: round(float(s), 3)
                for m, s in w.staleness_s.items()
                if present.get(m.value) and math.isfinite(s)
            }
            events.append(
                HealthEvent(
                    asset=w.asset,
                    ts_ns=int(w.ts_ns),
                    health=float(health[i]),
                    anomaly_score=float(scores[i]),
                    p_value=float(p[i]),
                    fault_class=faults[i],
                    fault_probability=round(float(fault_p[i]), 6),
                    present=present,
                    staleness_s=stale,
                    model_version=self.version,
                    calibration_group=groups[i],
                    trigger=w.trigger.value if w.trigger is not None else None,
                    load_range=load_range(None if w.thermal is None else w.thermal.load_fraction),
                    p_value_sensors=None if np.isnan(sensors_p[i]) else float(sensors_p[i]),
                )
            )
        return events

    def reset_baseline(self, asset: str, _ts_ns: int = 0) -> None:
        """Maintenance ended: the asset's normal-behaviour baseline starts again."""
        baselines = getattr(self.scorer, "baselines", None)
        if baselines is not None:
            baselines.reset(asset)

    # ------------------------------------------------------------------------ explanation

    def explain(self, window: Window) -> dict[str, Any]:
        """The per-modality explanation of one window (docs/PROTOCOL.md, ``explanation``)."""
        asset = self.assets.get(window.asset)
        shaft_hz = window.context.shaft_speed_hz if window.context is not None else None
        try:
            from models.explain import Explainer
        except ImportError:
            return shapley_only(self.scorer, window)
        if self._explainer is None:
            self._explainer = Explainer(self.scorer)
        return self._explainer.explain(
            window,
            asset_type=window.asset_type,
            bearing=asset.config.bearing if asset is not None else None,
            shaft_hz=shaft_hz,
        )


_NONE = np.zeros(len(NAMES), bool)
_NO_BASE = np.zeros(3, bool)  # vibration, thermal, camera: no baseline frozen


def _as_of(b: Any, ready: np.ndarray) -> Any:
    """Batch ``b`` with each row's baselines only where ``ready`` (N, 3) says they were frozen
    when that row was observed (zeros elsewhere, as ``models.dataset`` featurises)."""
    if not hasattr(b, "base_ready"):
        return b
    keep = np.asarray(b.base_ready, bool) & ready
    if np.array_equal(keep, np.asarray(b.base_ready, bool)):
        return b
    v, t, c = keep[:, 0], keep[:, 1], keep[:, 2]
    return b._replace(
        base_vib=np.where(v[:, None, None, None], b.base_vib, 0).astype(b.base_vib.dtype),
        base_th_temp=np.where(t[:, None], b.base_th_temp, 0).astype(b.base_th_temp.dtype),
        base_th_x=np.where(t[:, None], b.base_th_x, 0).astype(b.base_th_x.dtype),
        base_image=np.where(c[:, None, None, None], b.base_image, 0).astype(b.base_image.dtype),
        base_ready=keep,
    )


def _trigger_index(w: Window) -> int:
    if w.trigger is None or w.trigger not in MODEL_MODALITIES:
        return -1
    return MODEL_MODALITIES.index(w.trigger)


def _with(ev: HealthEvent, **changes: object) -> HealthEvent:
    import dataclasses

    return dataclasses.replace(ev, **changes)  # type: ignore[arg-type]


def rounds(items: list[tuple[int, Window]]) -> list[list[tuple[int, Window]]]:
    """Split into consecutive groups in which each asset appears at most once, order kept."""
    out: list[list[tuple[int, Window]]] = []
    seen_in: dict[str, int] = {}
    for item in items:
        k = seen_in.get(item[1].asset, -1) + 1
        if k == len(out):
            out.append([])
        out[k].append(item)
        seen_in[item[1].asset] = k
    return out


def shapley_only(scorer: Scorer, window: Window) -> dict[str, Any]:
    """Exact modality Shapley values over the 16 coalitions (absent modality: 0), used only when
    EV's ``models.explain`` is not installed; no per-modality evidence."""
    n = len(NAMES)
    coalitions = np.array(list(itertools.product([False, True], repeat=n)), bool)  # (16, 4)
    b = scorer.batch([window] * len(coalitions))
    scores, _ = scorer.score(b, mask_override=coalitions)
    value = {tuple(c): float(s) for c, s in zip(coalitions, scores, strict=True)}
    present = window.mask
    phi = {}
    for j, name in enumerate(NAMES):
        total = 0.0
        if present[j]:
            for c in coalitions:
                if c[j]:
                    continue
                k = int(c.sum())
                weight = math.factorial(k) * math.factorial(n - k - 1) / math.factorial(n)
                with_j = c.copy()
                with_j[j] = True
                total += weight * (value[tuple(with_j)] - value[tuple(c)])
        phi[name] = total
    base = value[(False,) * n]
    full = value[tuple(present)] if present.any() else base
    # Absent modalities contribute nothing: their masked-out coalitions equal the base ones.
    positive = {k: v for k, v in phi.items() if v > 0}
    return {
        "shapley": phi,
        "base": base,
        "score": full,
        "primary": max(positive, key=positive.__getitem__) if positive else "",
        "evidence": {},
    }
