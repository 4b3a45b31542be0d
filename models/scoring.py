"""Fast scoring: a ``Scorer`` loaded from a model directory, batched at compiled bucket sizes.

- ``score(windows | Batch, mask_override=None)``: features + encoders + fusion in one jitted graph;
  ``mask_override`` (B, 4) bool removes modalities (missing-modality evaluation, Shapley).
- ``score_incremental(asset_ids, modality, batch)``: the live path. Per-asset encodings live in a
  device-resident cache; only ``modality`` is re-encoded for these assets, the others' cached tokens
  are reused and fusion reruns, in one jitted call per bucket.
Plain ``jax.jit`` around ``nnx.merge`` (STYLE.md 5); runs on a GPU when JAX sees one.
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from ingest.window import Window
from models.baseline import AssetBaselines
from models.batch import Batch, bucket_for, make_batch, pad_batch, take, with_baselines
from models.checkpoint import load_model
from models.config import ModelConfig
from models.model import MODALITY_NAMES, Features, FusionModel, featurize
from plant.readings import MODEL_MODALITIES, Modality

log = logging.getLogger(__name__)
SLIM_AUX = ("late_scores", "mid_score", "gate", "fault_logits")
NOTES = MODEL_MODALITIES.index(Modality.NOTES)


def _slim(aux: dict) -> dict:
    return {k: aux[k] for k in SLIM_AUX}


class Packed:
    """A scorer's model as a cheap jit static argument (SV, serve's hot path).

    Passing ``graphdef`` and the ``nnx.State`` to a jitted function costs ~2 ms per call on this
    machine (jit hashes the static GraphDef by walking the whole graph) plus ~0.6 ms (flattening
    the State's Variables in Python): per *call*, whatever the batch size. A ``Packed`` is hashed
    once (at construction) and travels with the state's plain leaf list (a list of arrays
    flattens in C++); :func:`_merge` rebuilds the module in the traced function. Equal
    ``Packed``s (equal graphdef and treedef) share compilations like equal graphdefs do.
    ``score_step`` / ``incremental_step`` accept either form."""

    __slots__ = ("_hash", "graphdef", "treedef")

    def __init__(self, graphdef: nnx.GraphDef, treedef: object) -> None:
        self.graphdef, self.treedef = graphdef, treedef
        self._hash = hash((graphdef, treedef))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        return (
            isinstance(other, Packed)
            and self._hash == other._hash
            and self.treedef == other.treedef
            and self.graphdef == other.graphdef
        )


def _merge(graphdef, state):  # type: ignore[no-untyped-def]
    if isinstance(graphdef, Packed):
        return nnx.merge(graphdef.graphdef, jax.tree.unflatten(graphdef.treedef, state))
    return nnx.merge(graphdef, state)


@partial(jax.jit, static_argnames=("graphdef", "cfg", "full"))
def score_step(graphdef, state, batch: Batch, present, cfg: ModelConfig, full: bool = False):
    """(B,) anomaly logits and aux for a padded batch; ``present`` (B, 4) bool."""
    model = _merge(graphdef, state)
    score, aux = model(featurize(batch, cfg), present)
    return score, (aux if full else _slim(aux))


def _features_for(batch: Batch, m: int, cfg: ModelConfig) -> Features:
    """Features with only what modality ``m`` reads computed (no FFT unless m is vibration)."""
    if m == 0:
        return featurize(batch, cfg)
    return Features(
        None,
        batch.thermal_c,
        batch.probe_mask,
        batch.thermal_ctx,
        batch.image,
        batch.note_ids,
        batch.asset_type,
        batch.present,
        batch.orders,
        batch.base_vib,
        batch.base_th_temp,
        batch.base_th_x,
        batch.base_image,
        batch.base_ready,
    )


@partial(jax.jit, static_argnames=("cfg",))
def raw_spectra(batch: Batch, cfg: ModelConfig) -> jax.Array:
    """featurize's raw (B, C, 3, K) spectra: what per-asset vibration baselines average."""
    return featurize(batch, cfg).vib


@partial(jax.jit, static_argnames=("graphdef", "cfg", "m"), donate_argnames=("cache",))
def incremental_step(graphdef, state, cache, slots, batch: Batch, cfg: ModelConfig, m: int):
    """Re-encode modality ``m`` for ``slots``, write it to the cache, fuse from the cache."""
    model = _merge(graphdef, state)
    tokens, _ = model.encode_modality(m, _features_for(batch, m, cfg))
    new = dict(cache)
    new["tokens"] = tuple(
        c.at[slots].set(tokens) if i == m else c for i, c in enumerate(cache["tokens"])
    )
    new["present"] = cache["present"].at[slots, m].set(batch.present[:, m])
    new["asset_type"] = cache["asset_type"].at[slots].set(batch.asset_type)
    gathered = tuple(c[slots] for c in new["tokens"])
    score, aux = model.fusion(gathered, new["present"][slots], new["asset_type"][slots])
    return new, score, _slim(aux)


@partial(jax.jit, static_argnames=("graphdef", "m"))
def fuse_without_step(graphdef, state, cache, slots, m: int):
    """(B,) fused logits of the cached encodings of ``slots`` with modality ``m`` left out
    (its missing token instead): what the model says without it, no re-encoding."""
    model = _merge(graphdef, state)
    gathered = tuple(c[slots] for c in cache["tokens"])
    present = cache["present"][slots].at[:, m].set(False)
    score, _ = model.fusion(gathered, present, cache["asset_type"][slots])
    return score


MIN_CAPACITY = 64


def cache_capacity(slots: int) -> int:
    """Rows of the incremental cache for ``slots`` rows (assets + the scratch slot 0): the next
    power of two, at least ``MIN_CAPACITY``. The cache's size is part of every compiled shape of
    the incremental path, so rounding it means a plant that grows (a restart with more assets, or
    :meth:`Scorer.reserve` at run time) recompiles only when it crosses a power of two, and the
    persistent XLA cache serves every plant size within one step (SV)."""
    return max(MIN_CAPACITY, 1 << max(0, slots - 1).bit_length())


class Scorer:
    """Scores windows with one model; keeps per-asset encodings for the incremental path."""

    def __init__(self, model: FusionModel, cfg: ModelConfig, version: str = ""):
        self.cfg, self.version = cfg, version
        self.graphdef, self.state = nnx.split(model)
        self.buckets = tuple(sorted(cfg.buckets))
        self._slots: dict[str, int] = {}
        self.baselines = AssetBaselines(cfg.inputs)  # per-asset baselines (models/baseline.py)
        self._cache = self._empty_cache(cache_capacity(1))
        self._packed: tuple[object, object, Packed, list] | None = None
        self._zeros: dict[tuple, jax.Array] = {}  # (size, shape, dtype) -> device zeros
        log.info("scorer on %s, buckets %s", jax.devices()[0].platform, self.buckets)

    def model_args(self) -> tuple[Packed, list]:
        """(static, state leaves) for ``score_step`` / ``incremental_step``: see :class:`Packed`;
        rebuilt when ``graphdef`` or ``state`` is replaced."""
        p = self._packed
        if p is None or p[0] is not self.graphdef or p[1] is not self.state:
            leaves, treedef = jax.tree.flatten(self.state)
            p = (self.graphdef, self.state, Packed(self.graphdef, treedef), leaves)
            self._packed = p
        return p[2], p[3]

    @classmethod
    def load(cls, model_dir: str | Path) -> Scorer:
        model, cfg, manifest = load_model(Path(model_dir))
        return cls(model, cfg, manifest.get("version", Path(model_dir).name))

    def batch(self, windows: list[Window]) -> Batch:
        """Model input for ``windows``, with each asset's frozen baseline (if any) filled in."""
        b = make_batch(windows, self.cfg.inputs)
        return with_baselines(b, self.baselines.rows([w.asset for w in windows]))

    def observe(self, windows: list[Window]) -> np.ndarray:
        """Add windows (in time order) to their assets' baselines while those are still open;
        (N, 3) readiness (vibration, thermal, camera) of each row's asset right after that row
        was observed (the live scorer scores each row as of it). Call it with every scored
        window: once an asset's baselines are frozen (``baseline_hours``) it costs a dict
        look-up. Call ``self.baselines.reset(asset)`` after maintenance; persist with
        ``baselines.save``."""
        present = np.zeros((len(windows), len(MODEL_MODALITIES)), bool)
        for i, w in enumerate(windows):
            present[i] = w.mask
        stopped = np.array([present[i, 1] and _stopped(w) for i, w in enumerate(windows)], bool)
        wanted = self.baselines.wanted(
            [w.asset for w in windows], [int(w.ts_ns) for w in windows], present, stopped
        )
        before = {w.asset: self.baselines.ready(w.asset) for w in windows}
        out = np.stack([before[w.asset] for w in windows]) if windows else wanted
        open_rows = np.flatnonzero(wanted.any(axis=1))  # SV: only rows a baseline may take
        if not open_rows.size:
            return out
        wins = [windows[i] for i in open_rows]
        b = make_batch(wins, self.cfg.inputs)
        spectra = np.zeros((len(wins), *b.base_vib.shape[1:]), np.float32)
        need = np.flatnonzero(wanted[open_rows, 0])  # spectra only where vibration is taken
        top = self.buckets[-1]
        for start in range(0, len(need), top):
            idx = need[start : start + top]
            size = bucket_for(len(idx), self.buckets)
            chunk = pad_batch(take(b, idx), size)
            spectra[idx] = np.asarray(raw_spectra(chunk, self.cfg))[: len(idx)]
        ready = self.baselines.observe(
            [w.asset for w in wins],
            [w.ts_ns for w in wins],
            spectra,
            b.thermal_c,
            b.probe_mask,
            b.thermal_ctx,
            b.image,
            b.present,
        )
        # each row's readiness right after it was observed, as one window at a time would
        # see it: a row after a freezing row of its asset (in this call) is ready too
        taken = dict(zip(open_rows.tolist(), ready, strict=True))
        for i, w in enumerate(windows):
            if i in taken:
                before[w.asset] = taken[i]
            out[i] = before[w.asset]
        return out

    def score(
        self,
        windows: list[Window] | Batch,
        mask_override: np.ndarray | None = None,
        full_aux: bool = False,
    ) -> tuple[np.ndarray, dict]:
        """Anomaly logits (N,) and aux (N, ...) numpy arrays, in chunks of compiled buckets."""
        b = windows if isinstance(windows, Batch) else self.batch(windows)
        n = len(b.present)
        present = b.present if mask_override is None else b.present & np.asarray(mask_override)
        scores, auxes = [], []
        top = self.buckets[-1]
        for start in range(0, n, top):
            idx = np.arange(start, min(n, start + top))
            size = bucket_for(len(idx), self.buckets)
            chunk = pad_batch(take(b, idx), size)
            pres = np.zeros((size, len(MODEL_MODALITIES)), bool)
            pres[: len(idx)] = present[idx]
            s, aux = score_step(*self.model_args(), chunk, pres, self.cfg, full_aux)
            scores.append(np.asarray(s)[: len(idx)])
            auxes.append(_head(aux, len(idx)))
        return _cat(scores, auxes)

    # --- the incremental path -------------------------------------------------------------
    def _empty_cache(self, capacity: int) -> dict:
        probe = pad_batch(make_batch([], self.cfg.inputs, 1), 1)

        def tokens(state, b: Batch, present):  # shapes only: traced, never compiled (SV)
            return score_step(self.graphdef, state, b, present, self.cfg, True)[1]["tokens"]

        shapes = jax.eval_shape(tokens, self.state, probe, probe.present)
        toks = [shapes[name] for name in MODALITY_NAMES]
        return {
            "tokens": tuple(jnp.zeros((capacity, *t.shape[1:]), t.dtype) for t in toks),
            "present": jnp.zeros((capacity, len(MODEL_MODALITIES)), bool),
            "asset_type": jnp.zeros(capacity, jnp.int32),
        }

    def _slot_ids(self, asset_ids: list[str]) -> np.ndarray:
        for a in asset_ids:
            if a not in self._slots:
                self._slots[a] = len(self._slots) + 1  # slot 0: scratch for padded rows
        need = len(self._slots) + 1
        cap = self._cache["present"].shape[0]
        if need > cap:
            new_cap = cache_capacity(need)
            log.info("incremental cache grows to %d slots (%d assets): the incremental path "
                     "compiles again at every bucket", new_cap, len(self._slots))  # fmt: skip
            grown = self._empty_cache(new_cap)
            grown["tokens"] = tuple(
                g.at[:cap].set(c)
                for g, c in zip(grown["tokens"], self._cache["tokens"], strict=True)
            )
            grown["present"] = grown["present"].at[:cap].set(self._cache["present"])
            grown["asset_type"] = grown["asset_type"].at[:cap].set(self._cache["asset_type"])
            self._cache = grown
        return np.array([self._slots[a] for a in asset_ids], np.int32)

    def score_incremental(
        self,
        asset_ids: list[str],
        modality: Modality,
        new_inputs: Batch | list[Window],
        rows: np.ndarray | None = None,
    ) -> tuple[np.ndarray, dict]:
        """Re-encode ``modality`` for these assets from ``new_inputs`` and fuse with the cache.
        ``rows``: the rows of ``new_inputs`` that ``asset_ids`` stand for (default: all)."""
        b = new_inputs if isinstance(new_inputs, Batch) else self.batch(new_inputs)
        m = MODEL_MODALITIES.index(Modality(modality))
        slots_all = self._slot_ids(list(asset_ids))
        rows = np.arange(len(slots_all)) if rows is None else np.asarray(rows)
        scores, auxes = [], []
        top = self.buckets[-1]
        for start in range(0, len(slots_all), top):
            idx = np.arange(start, min(len(slots_all), start + top))
            size = bucket_for(len(idx), self.buckets)
            slots = np.zeros(size, np.int32)
            slots[: len(idx)] = slots_all[idx]
            chunk = self._chunk(b, rows[idx], size, m)
            self._cache, s, aux = incremental_step(
                *self.model_args(), self._cache, slots, chunk, self.cfg, m
            )
            scores.append(np.asarray(s)[: len(idx)])
            auxes.append(_head(aux, len(idx)))
        return _cat(scores, auxes)

    def score_without(self, asset_ids: list[str], modality: Modality | str) -> np.ndarray:
        """(N,) fused logits of these assets' cached encodings (their newest windows, as
        :meth:`score_incremental` left them) with ``modality`` left out."""
        m = MODEL_MODALITIES.index(Modality(modality))
        slots_all = self._slot_ids(list(asset_ids))
        out = []
        top = self.buckets[-1]
        for start in range(0, len(slots_all), top):
            part = slots_all[start : start + top]
            slots = np.zeros(bucket_for(len(part), self.buckets), np.int32)
            slots[: len(part)] = part
            s = fuse_without_step(*self.model_args(), self._cache, slots, m)
            out.append(np.asarray(s)[: len(part)])
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    def _chunk(self, b: Batch, rows: np.ndarray, size: int, m: int) -> Batch:
        """``pad_batch(take(b, rows), size)`` in one copy per field; for a modality other than
        vibration (which never reads the raw samples: ``_features_for``) the (size, C, N)
        samples are one cached all-zero device array instead of a fresh copy (SV: they are
        ~80 % of a thermal batch's bytes)."""
        n = len(rows)
        out = []
        for name, a in zip(Batch._fields, b, strict=True):
            if m != 0 and name == "vibration":
                out.append(self._zero_samples(size, a.shape[1:], a.dtype))
                continue
            z = np.zeros((size, *a.shape[1:]), a.dtype)
            np.take(a, rows, axis=0, out=z[:n])
            out.append(z)
        return Batch(*out)

    def _zero_samples(self, size: int, shape: tuple, dtype: np.dtype) -> jax.Array:
        zeros = self._zeros
        key = (size, tuple(shape), np.dtype(dtype).str)
        if key not in zeros:
            zeros[key] = jax.device_put(np.zeros((size, *shape), dtype))  # no compile
        return zeros[key]

    @property
    def capacity(self) -> int:
        """Rows of the incremental cache (slot 0 is scratch): a power of two, see
        :func:`cache_capacity`."""
        return int(self._cache["present"].shape[0])

    def reserve(self, asset_ids: list[str]) -> bool:
        """Give these assets cache slots now, so the cache does not grow (and every incremental
        shape recompile) while the stream runs; whether the cache grew (then call :meth:`warm`
        again before scoring)."""
        cap = self.capacity
        self._slot_ids(list(asset_ids))
        return self.capacity != cap

    def warm(self, full_rows: int | None = 16) -> float:
        """Compile every bucket of the incremental path (each modality) at the cache's current
        capacity and, with ``full_rows``, the bucket of :meth:`score` that many rows use (16:
        one window's Shapley coalitions); seconds taken. Only the scratch slot 0 is written, so
        no asset's cached tokens change."""
        import time

        t0 = time.perf_counter()
        for size in self.buckets:
            chunk = pad_batch(make_batch([], self.cfg.inputs, 1), size)
            self._zero_samples(size, chunk.vibration.shape[1:], chunk.vibration.dtype)
            slots = np.zeros(size, np.int32)
            for m in range(len(MODEL_MODALITIES)):
                self._cache, s, _ = incremental_step(
                    *self.model_args(), self._cache, slots, chunk, self.cfg, m
                )
            # the notes-free fusion of the alarm engine's notes rule (LiveScorer)
            s = fuse_without_step(*self.model_args(), self._cache, slots, NOTES)
            if full_rows is not None and size == bucket_for(full_rows, self.buckets):
                s, _ = score_step(*self.model_args(), chunk, chunk.present, self.cfg)
            jax.block_until_ready(s)
        return time.perf_counter() - t0

    def prime(self, asset_ids: list[str], windows: list[Window] | Batch) -> np.ndarray:
        """Encode every modality of these assets' windows into the cache; return the scores."""
        b = windows if isinstance(windows, Batch) else self.batch(windows)
        s = np.zeros(len(asset_ids), np.float32)
        for modality in MODEL_MODALITIES:
            s, _ = self.score_incremental(asset_ids, modality, b)
        return s


def _head(tree: dict, k: int) -> dict:
    return jax.tree.map(lambda a: np.asarray(a)[:k], tree)


def _cat(scores: list[np.ndarray], auxes: list[dict]) -> tuple[np.ndarray, dict]:
    if not scores:
        return np.zeros(0, np.float32), {}
    aux = jax.tree.map(lambda *xs: np.concatenate(xs), *auxes)
    return np.concatenate(scores), aux


def _stopped(w: Window) -> bool:
    """Whether ``Baselines.observe`` sees this window's machine as stopped: its thermal
    history's newest context sample is not running (``batch.thermal_ctx[i, -1, 3]``)."""
    th = w.thermal
    return th is not None and len(th.running) > 0 and not bool(th.running[-1])
