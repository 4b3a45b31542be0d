"""Per-asset normal-behaviour baselines: a fault is a change against the asset's own history.

Condition monitoring judges an asset against its own healthy behaviour, not only against the
fleet: two pumps of one type differ in mounting, load and camera view. ``AssetBaselines`` keeps,
per asset, the mean of what the model reads during the asset's first ``baseline_hours`` (at most
one window per ``baseline_spacing_s``; at least ``baseline_min_windows``; never a stopped
machine's), then freezes it:

- vibration: the raw log-amplitude order / envelope / band spectra (C, 3, K) (``featurize``);
- thermal: mean temperature per probe (P,) and the mean regressors of the normal-behaviour model
  (F,); the model is linear, so the asset's mean residual is computed in-graph from these two;
- camera: the first image (the asset's reference view; the model aligns each image to it).

Until an asset's baseline is frozen, ``ready`` is False for it and the model reads no
baseline-relative channel (it still scores from the absolute features). ``reset(asset)`` starts a
new baseline (after maintenance: the repaired machine is the new normal). Training builds the
baselines the same way, in time order, from the same windows (models/store_data.py), and the
live scorer keeps one ``AssetBaselines`` (``Scorer.observe``); ``save``/``load`` persist it as a
plain ``.npz`` (no pickle), so a restarted scorer keeps its baselines.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from models.config import InputConfig
from models.features import N_THERMAL_FEATURES

NS = 1_000_000_000
BASE_MODALITIES = 3  # vibration, thermal, camera (notes are events: no baseline)


class BaselineRows(NamedTuple):
    """Per-row baseline arrays, as they ride in a Batch / Features."""

    base_vib: np.ndarray  # (B, C, 3, K) float32 raw log amplitudes
    base_th_temp: np.ndarray  # (B, P) float32 mean temperature per probe
    base_th_x: np.ndarray  # (B, F) float32 mean normal-model regressors
    base_image: np.ndarray  # (B, S, S, 3) uint8 reference image
    base_ready: np.ndarray  # (B, 3) bool: vibration, thermal, camera baseline frozen


def empty_rows(cfg: InputConfig, size: int) -> BaselineRows:
    c, k, p, s = cfg.vibration_channels, cfg.order_bins, cfg.thermal_probes, cfg.image_size
    return BaselineRows(
        base_vib=np.zeros((size, c, 3, k), np.float32),
        base_th_temp=np.zeros((size, p), np.float32),
        base_th_x=np.zeros((size, N_THERMAL_FEATURES), np.float32),
        base_image=np.zeros((size, s, s, 3), np.uint8),
        base_ready=np.zeros((size, BASE_MODALITIES), bool),
    )


def thermal_design_np(ctx: np.ndarray) -> np.ndarray:
    """(..., T, 4) context -> (..., T, F) regressors (same as models.features.thermal_design)."""
    load, amb, speed, run = (ctx[..., i] for i in range(4))
    return np.stack([np.ones_like(load), load, amb, speed / 100.0, run, load**2], -1)


@dataclasses.dataclass
class _Acc:
    """Running sums of one modality of one asset."""

    first_ns: int = -1
    last_ns: int = -(1 << 62)
    n: int = 0
    frozen: bool = False
    sums: list[np.ndarray] = dataclasses.field(default_factory=list)
    counts: np.ndarray | None = None  # per-probe counts (thermal)
    # thermal: the newest window whose history held a stop, a start or a load step
    unsettled_ns: int = -(1 << 62)


class AssetBaselines:
    """Per-asset baselines: ``observe`` windows' features in time order, ``rows`` for a batch."""

    def __init__(self, cfg: InputConfig) -> None:
        self.cfg = cfg
        self._acc: dict[str, list[_Acc]] = {}

    # --- building ------------------------------------------------------------------------
    def reset(self, asset: str) -> None:
        """Forget ``asset``'s baseline (e.g. after maintenance); the next windows rebuild it."""
        self._acc.pop(asset, None)

    def assets(self) -> list[str]:
        return sorted(self._acc)

    def ready(self, asset: str) -> np.ndarray:
        """(3,) bool: which of vibration, thermal, camera baselines are frozen."""
        acc = self._acc.get(asset)
        if acc is None:
            return np.zeros(BASE_MODALITIES, bool)
        return np.array([a.frozen for a in acc], bool)

    def wanted(
        self,
        assets: Sequence[str],
        ts_ns: Sequence[int],
        present: np.ndarray,
        stopped: np.ndarray | None = None,
    ) -> np.ndarray:
        """(N, 3) bool: which rows' modalities ``observe`` may add or judge, from the state
        before these rows (SV: so serve computes a window's spectra only when its baseline
        takes it). ``stopped`` (N,): rows ``observe`` will see as a stopped machine (thermal
        present, not running at its newest context sample); they add no vibration or camera.

        A superset of what ``observe`` adds (a baseline only freezes and its ``last_ns`` only
        grows while observing), so passing zeros for the other rows' features is exact. A
        stopped machine's thermal row stays wanted: the settle rule notes it."""
        out = np.zeros((len(assets), BASE_MODALITIES), bool)
        spacing_ns = int(self.cfg.baseline_spacing_s * NS)
        present = np.asarray(present)
        for i, (asset, ts) in enumerate(zip(assets, ts_ns, strict=True)):
            acc = self._acc.get(asset)
            if acc is None:
                out[i] = present[i, :BASE_MODALITIES]
            else:
                for m, a in enumerate(acc):
                    out[i, m] = (
                        bool(present[i, m]) and not a.frozen and ts - a.last_ns >= spacing_ns
                    )
            if stopped is not None and stopped[i]:
                # without this, every window of a stopped machine with a snapshot in it asked
                # for spectra it could never add: ~10 % of the 5,000-asset plant's windows,
                # in bursts where machines stop together (SV session 9)
                out[i, 0] = out[i, 2] = False
        return out

    def observe(
        self,
        assets: Sequence[str],
        ts_ns: Sequence[int] | np.ndarray,
        vib: np.ndarray,
        thermal_c: np.ndarray,
        probe_mask: np.ndarray,
        thermal_ctx: np.ndarray,
        image: np.ndarray,
        present: np.ndarray,
        reset: np.ndarray | None = None,
    ) -> np.ndarray:
        """Add windows (rows in time order) to their assets' baselines while those are open.

        ``reset`` (N,) bool: rows at which the asset's baseline starts again (maintenance), applied
        in row order. Windows of a stopped machine are never added.

        ``vib`` is featurize's raw (C, 3, K) spectra per row; the rest are Batch fields.
        Returns (N, 3) bool: each row's asset's readiness right after that row was observed.
        """
        out = np.zeros((len(assets), BASE_MODALITIES), bool)
        hours_ns = int(self.cfg.baseline_hours * 3600 * NS)
        spacing_ns = int(self.cfg.baseline_spacing_s * NS)
        settle_ns = int(self.cfg.baseline_settle_s * NS)
        for i, (asset, ts) in enumerate(zip(assets, np.asarray(ts_ns).tolist(), strict=True)):
            if reset is not None and reset[i]:
                self.reset(asset)
            acc = self._acc.setdefault(asset, [_Acc() for _ in range(BASE_MODALITIES)])
            # a stopped machine's spectra and temperatures are not its normal running behaviour
            stopped = bool(present[i, 1]) and not float(thermal_ctx[i, -1, 3]) > 0.5
            for m, a in enumerate(acc):
                if a.frozen or not present[i, m] or ts - a.last_ns < spacing_ns:
                    continue
                if m == 1 and settle_ns > 0:  # judged once per spacing, added or not
                    if stopped or not self._steady(thermal_ctx[i]):
                        a.last_ns = a.unsettled_ns = ts
                        continue
                    if ts - a.unsettled_ns < settle_ns:
                        a.last_ns = ts
                        continue  # probes still moving towards a new steady state
                if stopped:
                    continue
                if m == 1 and not _thermal_finite(i, thermal_c, probe_mask, thermal_ctx):
                    continue  # e.g. temperatures before any process context: NaN regressors
                if a.first_ns < 0:
                    a.first_ns = ts
                elif ts - a.first_ns >= hours_ns and a.n >= self.cfg.baseline_min_windows:
                    a.frozen = True  # this window is past the baseline period: not included
                    continue
                self._add(a, m, i, vib, thermal_c, probe_mask, thermal_ctx, image)
                a.last_ns, a.n = ts, a.n + 1
            out[i] = [a.frozen for a in acc]
        return out

    def _steady(self, ctx: np.ndarray) -> bool:
        """Whether a thermal window's context history ``ctx`` (T, 4) is steady: the machine
        ran through all of it with a load range of at most ``baseline_load_step``.

        A probe reaches its steady state in about three time constants after a start, a stop
        or a load step; a baseline that averages a warm-up or the tail of a load step reads a
        healthy machine as off its normal for as long as the baseline stands. So a thermal
        baseline takes only windows ``baseline_settle_s`` after the newest unsteady one. The
        history is judged once per ``baseline_spacing_s`` (as ``wanted`` promises serve); a
        spacing shorter than the thermal look-back sees every stop and step."""
        ctx = np.asarray(ctx, np.float64)
        load = ctx[:, 0]
        return bool((ctx[:, 3] > 0.5).all()) and float(np.ptp(load)) <= self.cfg.baseline_load_step

    @staticmethod
    def _add(a: _Acc, m: int, i: int, vib, thermal_c, probe_mask, thermal_ctx, image) -> None:
        if m == 0:
            parts = [np.asarray(vib[i], np.float64)]
        elif m == 1:
            mask = np.asarray(probe_mask[i], bool)
            temp = np.where(mask, np.asarray(thermal_c[i], np.float64).mean(0), 0.0)
            x = thermal_design_np(np.asarray(thermal_ctx[i], np.float64)).mean(0)
            parts = [temp, x]
            a.counts = mask.astype(np.int64) + (0 if a.counts is None else a.counts)
        else:  # camera: the first image is the reference; a mean of images taken from a
            # slightly different framing each time is a blur (sums stay n x the first image)
            first = np.asarray(image[i], np.float64) if not a.sums else a.sums[0] / a.n
            a.sums = [first if not a.sums else a.sums[0] + first]
            return
        a.sums = parts if not a.sums else [s + p for s, p in zip(a.sums, parts, strict=True)]

    # --- reading -------------------------------------------------------------------------
    def rows(self, assets: Sequence[str], size: int | None = None) -> BaselineRows:
        """Baseline arrays for ``assets`` (padded with not-ready rows to ``size``)."""
        out = empty_rows(self.cfg, len(assets) if size is None else size)
        for i, asset in enumerate(assets):
            acc = self._acc.get(asset)
            if acc is None:
                continue
            v, t, c = acc
            if v.frozen:
                out.base_vib[i] = v.sums[0] / v.n
            if t.frozen:
                cnt = np.maximum(t.counts if t.counts is not None else 1, 1)
                out.base_th_temp[i] = t.sums[0] / cnt
                out.base_th_x[i] = t.sums[1] / t.n
            if c.frozen:
                out.base_image[i] = np.clip(np.round(c.sums[0] / c.n), 0, 255).astype(np.uint8)
            out.base_ready[i] = [v.frozen, t.frozen, c.frozen]
        return out

    # --- persistence (plain arrays, no pickle) ---------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write every asset's accumulators to an ``.npz`` (open ones keep accumulating)."""
        names = self.assets()
        meta = np.array(
            [
                [a.first_ns, a.last_ns, a.n, int(a.frozen), a.unsettled_ns]
                for n in names
                for a in self._acc[n]
            ],
            np.int64,
        ).reshape(len(names), BASE_MODALITIES, 5)
        cfg = self.cfg
        shapes = empty_rows(cfg, len(names))
        vib, temp, x, img = (np.zeros(a.shape, np.float64) for a in shapes[:4])
        counts = np.zeros((len(names), cfg.thermal_probes), np.int64)
        for i, n in enumerate(names):
            v, t, c = self._acc[n]
            if v.sums:
                vib[i] = v.sums[0]
            if t.sums:
                temp[i], x[i] = t.sums
                counts[i] = t.counts
            if c.sums:
                img[i] = c.sums[0]
        np.savez(
            Path(path),
            assets=np.array(names, str),
            meta=meta,
            vib=vib,
            temp=temp,
            x=x,
            image=img,
            counts=counts,
        )

    @classmethod
    def load(cls, path: str | Path, cfg: InputConfig) -> AssetBaselines:
        out = cls(cfg)
        with np.load(Path(path), allow_pickle=False) as z:
            for i, name in enumerate(z["assets"].tolist()):
                accs = []
                for m in range(BASE_MODALITIES):
                    first, last, n, frozen, *rest = (int(v) for v in z["meta"][i, m])
                    a = _Acc(first_ns=first, last_ns=last, n=n, frozen=bool(frozen))
                    if rest:  # files written before the settle rule have 4 columns
                        a.unsettled_ns = rest[0]
                    if n > 0:
                        if m == 0:
                            a.sums = [z["vib"][i].copy()]
                        elif m == 1:
                            a.sums = [z["temp"][i].copy(), z["x"][i].copy()]
                            a.counts = z["counts"][i].copy()
                        else:
                            a.sums = [z["image"][i].copy()]
                    accs.append(a)
                out._acc[name] = accs
        return out


def _thermal_finite(i: int, thermal_c, probe_mask, thermal_ctx) -> bool:
    """Whether row ``i``'s kept probes and context regressors are all finite (SV, serve)."""
    mask = np.asarray(probe_mask[i], bool)
    temps = np.asarray(thermal_c[i], np.float64)[:, mask]
    return bool(np.isfinite(temps).all() and np.isfinite(np.asarray(thermal_ctx[i])).all())
