"""Conformal alarm calibration: p-values per calibration group, from held-out normal windows.

A calibration group is the asset type x which modalities are present (``"motor-pump|VTC-"``:
vibration, thermal, camera present, notes absent), because a window's score distribution under
normal operation depends on both. For a new window of group g with score s, the conformal p-value
is ``(1 + #{calibration scores of g >= s}) / (n_g + 1)``; under exchangeability with g's held-out
normal windows, ``P(p <= alpha) <= alpha`` (and ~= alpha for continuous scores), so the false-alarm
rate is a setting, not an accident.

**Fallback.** A group with fewer than ``min_count`` calibration windows is too coarse a reference
(its p-values cannot go below ``1 / (n_g + 1)``), so its windows are compared against the first
group of this chain that has enough: exact group -> same presence pattern, any asset type
(``"*|VTC-"``) -> same asset type, any presence pattern (``"motor-pump|*"``) -> every calibration
window (``"*|*"``). ``resolve(group)`` says which reference a group uses; the chain is written into
``calibration.json``.

**Before an asset's own baselines are ready** (its first hours, and again after maintenance) the
model judges it against the fleet only, and the spread between assets widens its scores. Those
windows have their own groups, ``"<type>|<pattern>|nobase"``, with their own chain
(``"*|VTC-|nobase"``, ...); they never borrow the ready windows' references, which would put
every asset that runs a little hot below alpha until its baseline froze. A calibration without
any ``nobase`` reference (models calibrated before this) resolves them as ready groups.

In that regime what differs is the asset, not the window: an asset's first-hours windows move
together, so the reference holds as many independent draws as it holds assets, and a new asset
beyond all of them is no rarer than 1 in (assets + 1). A ``nobase`` p-value is therefore never
below ``1 / (assets in its reference + 1)`` (``floors``, from the assets ``fit`` is given): on a
small calibration plant such windows cannot raise an alarm until the asset's own baselines
freeze; on a plant of hundreds of assets they can.

Saved as ``<model_dir>/calibration/calibration.json`` (groups, counts, offsets, settings) and
``scores.npz`` (all sorted reference scores, one float64 array); no pickle.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from plant.readings import MODEL_MODALITIES

LETTERS = "VTCN"  # vibration, thermal, camera, notes: MODEL_MODALITIES order
ANY = "*"
FORMAT_VERSION = 1
DEFAULT_MIN_COUNT = 100
NOBASE = "nobase"  # suffix of the groups of windows judged before the asset's baselines froze


def calibration_group(asset_type: str, present: Sequence[bool], ready: bool = True) -> str:
    """``"<asset type>|VTCN"`` with ``-`` for each absent modality, e.g. ``"fan|V-C-"``;
    ``"fan|V-C-|nobase"`` where the asset's baselines are not ready (module docstring)."""
    if len(present) != len(LETTERS):
        raise ValueError(f"present needs {len(LETTERS)} flags (MODEL_MODALITIES), got {present!r}")
    pattern = "".join(c if p else "-" for c, p in zip(LETTERS, present, strict=True))
    return f"{asset_type}|{pattern}" if ready else f"{asset_type}|{pattern}|{NOBASE}"


def groups_for(
    asset_types: Sequence[str], present: np.ndarray, ready: np.ndarray | None = None
) -> list[str]:
    """Vectorised :func:`calibration_group` over rows of ``present`` (N, 4), ``ready`` (N,)
    (default: all ready)."""
    flags = np.ones(len(asset_types), bool) if ready is None else np.asarray(ready, bool)
    rows = zip(asset_types, np.asarray(present), flags, strict=True)
    return [calibration_group(t, p, bool(r)) for t, p, r in rows]


def fallback_chain(group: str) -> list[str]:
    """The groups tried for ``group``, finest first (see module docstring)."""
    asset_type, _, pattern = group.partition("|")
    pattern, _, tail = pattern.partition("|")
    suffix = f"|{tail}" if tail else ""
    chain = [
        group,
        f"{ANY}|{pattern}{suffix}",
        f"{asset_type}|{ANY}{suffix}",
        f"{ANY}|{ANY}{suffix}",
    ]
    return list(dict.fromkeys(chain))


class Calibration:
    """Sorted held-out normal scores per group (and per coarser group), and p-values from them."""

    def __init__(
        self,
        reference: dict[str, np.ndarray],
        min_count: int = DEFAULT_MIN_COUNT,
        floors: dict[str, float] | None = None,
    ):
        self.reference = {g: np.sort(np.asarray(s, np.float64)) for g, s in reference.items()}
        self.min_count = int(min_count)
        # reference group -> the smallest p-value it may give (nobase groups: 1 / (assets + 1))
        self.floors = dict(floors or {})
        self._resolved: dict[str, str] = {}
        # the fitted windows' scores as they were (every present modality), when fitted by
        # calibrate_dataset: the drift reference; not saved
        self.observed: np.ndarray | None = None

    # --- fitting -----------------------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        scores: np.ndarray,
        groups: Sequence[str],
        min_count: int = DEFAULT_MIN_COUNT,
        assets: Sequence[str] | None = None,
    ) -> Calibration:
        """Reference sets from the scores of held-out NORMAL windows and their groups.

        Every exact group seen is kept, plus every coarser group of the fallback chain (pooled
        from the windows it covers), so any group, seen or not, resolves to a reference.
        ``assets`` (one per window) sets each ``nobase`` reference's floor (module docstring).
        """
        s = np.asarray(scores, np.float64)
        g = np.asarray(list(groups), dtype=object)
        if s.shape != g.shape:
            raise ValueError(f"{s.shape[0]} scores but {len(g)} groups")
        if not np.all(np.isfinite(s)):
            raise ValueError("calibration scores must be finite")
        if len(s) == 0:
            raise ValueError("no calibration windows: need held-out normal windows")
        members: dict[str, list[int]] = {}
        for i, name in enumerate(g):
            for ref in fallback_chain(str(name)):
                members.setdefault(ref, []).append(i)
        floors = {}
        if assets is not None:
            who = np.asarray(list(assets), dtype=object)
            for ref, idx in members.items():
                if ref.endswith(f"|{NOBASE}"):
                    floors[ref] = 1.0 / (len(set(who[idx].tolist())) + 1.0)
        return cls({ref: s[idx] for ref, idx in members.items()}, min_count, floors)

    # --- lookup ------------------------------------------------------------------------------
    def resolve(self, group: str) -> str:
        """The reference group used for ``group``: the first of its chain with enough windows."""
        hit = self._resolved.get(group)
        if hit is not None:
            return hit
        chain = fallback_chain(group)
        if group.endswith(f"|{NOBASE}") and not len(self.reference.get(chain[-1], ())):
            chain = fallback_chain(group.rsplit("|", 1)[0])  # calibrated before nobase groups
        hit = next((c for c in chain if len(self.reference.get(c, ())) >= self.min_count), None)
        if hit is None:  # nothing big enough: the largest reference available
            hit = max(chain, key=lambda c: len(self.reference.get(c, ())))
        self._resolved[group] = hit
        return hit

    def p_values(self, scores: np.ndarray, groups: Sequence[str]) -> np.ndarray:
        """Conformal p-values (N,) in (0, 1]: ``(1 + #{ref >= s}) / (n + 1)`` per window."""
        s = np.asarray(scores, np.float64)
        g = list(groups)
        if len(g) != len(s):
            raise ValueError(f"{len(s)} scores but {len(g)} groups")
        out = np.ones(len(s), np.float64)
        by_ref: dict[str, list[int]] = {}
        for i, name in enumerate(g):
            by_ref.setdefault(self.resolve(str(name)), []).append(i)
        for ref, idx in by_ref.items():
            r = self.reference.get(ref)
            if r is None or len(r) == 0:
                continue  # no reference at all: p = 1, never an alarm
            ii = np.asarray(idx)
            at_least = len(r) - np.searchsorted(r, s[ii], side="left")
            out[ii] = np.maximum((1.0 + at_least) / (len(r) + 1.0), self.floors.get(ref, 0.0))
        return out

    def counts(self) -> dict[str, int]:
        return {g: len(r) for g, r in sorted(self.reference.items())}

    # --- persistence (JSON + NPZ, no pickle) -------------------------------------------------
    def save(self, model_dir: str | Path) -> Path:
        out = Path(model_dir) / "calibration"
        out.mkdir(parents=True, exist_ok=True)
        names = sorted(self.reference)
        offsets = np.cumsum([0] + [len(self.reference[n]) for n in names])
        flat = (
            np.concatenate([self.reference[n] for n in names]) if names else np.zeros(0, np.float64)
        )
        np.savez(out / "scores.npz", scores=flat)
        doc = {
            "format_version": FORMAT_VERSION,
            "method": "split conformal p-value (1 + #{ref >= s}) / (n + 1) per calibration group",
            "group_format": "<asset type>|" + LETTERS + " (a '-' for each absent modality)",
            "modalities": [m.value for m in MODEL_MODALITIES],
            "min_count": self.min_count,
            "fallback": ["exact", "*|<pattern>", "<asset type>|*", "*|*"],
            "groups": {
                n: {
                    "offset": int(offsets[i]),
                    "count": int(offsets[i + 1] - offsets[i]),
                    "resolves_to": self.resolve(n),
                    **({"floor": self.floors[n]} if n in self.floors else {}),
                }
                for i, n in enumerate(names)
            },
        }
        (out / "calibration.json").write_text(json.dumps(doc, indent=1))
        return out

    @classmethod
    def load(cls, model_dir: str | Path) -> Calibration:
        d = Path(model_dir) / "calibration"
        doc = json.loads((d / "calibration.json").read_text())
        if doc.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{d}: calibration format {doc.get('format_version')} not supported")
        with np.load(d / "scores.npz", allow_pickle=False) as z:
            flat = np.asarray(z["scores"], np.float64)
        ref = {n: flat[g["offset"] : g["offset"] + g["count"]] for n, g in doc["groups"].items()}
        floors = {n: float(g["floor"]) for n, g in doc["groups"].items() if "floor" in g}
        return cls(ref, doc["min_count"], floors)

    @staticmethod
    def exists(model_dir: str | Path) -> bool:
        return (Path(model_dir) / "calibration" / "calibration.json").is_file()


def rate(k: int, n: int) -> dict:
    """``k`` of ``n`` as a JSON figure: value, count, of, and its 95 % Clopper-Pearson interval."""
    lo, hi = clopper_pearson(k, n)
    return {"value": k / n if n else None, "count": k, "of": n, "ci95": [lo, hi]}


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) two-sided interval for a binomial proportion k / n."""
    from scipy.stats import beta

    if n <= 0:
        return (float("nan"), float("nan"))
    a = (1.0 - level) / 2.0
    lo = 0.0 if k == 0 else float(beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1.0 - a, k + 1, n - k))
    return lo, hi


def realised_alpha(p_values: np.ndarray, alpha: float) -> dict:
    """Share of (normal) windows with p < alpha (the alarm engine's test, plant/alarms/persistence),
    with its count and 95 % Clopper-Pearson interval."""
    p = np.asarray(p_values)
    k, n = int(np.sum(p < alpha)), len(p)
    lo, hi = clopper_pearson(k, n)
    return {
        "value": k / n if n else float("nan"),
        "alarms": k,
        "windows": n,
        "ci95": [lo, hi],
        "target": [0.5 * alpha, 1.5 * alpha],
    }


MIN_READY = 200


def baseline_ready_rows(features) -> np.ndarray:
    """(N,) rows whose per-asset baselines (models/baseline.py) are frozen for every present
    modality that has one (vibration, thermal, camera): the regime live scoring is in once an
    asset's first hours are past. All True for features without baselines."""
    ready = getattr(features, "base_ready", None)
    if ready is None:
        return np.ones(len(features.present), bool)
    present = np.asarray(features.present)[:, : ready.shape[1]]
    return np.all(np.asarray(ready) | ~present, axis=1)


def presence_masks() -> np.ndarray:
    """Every non-empty set of model modalities, as (15, 4) bool rows."""
    n = len(LETTERS)
    return np.array([[(i >> m) & 1 == 1 for m in range(n)] for i in range(1, 2**n)], bool)


def calibrate_dataset(
    graphdef, state, ds, model_dir: str | Path, *, patterns: bool = True, **kw
) -> Calibration:
    """Fit on the NORMAL windows of ``ds`` (held out from training) with this model; save.

    Windows whose per-asset baselines are frozen make the ready groups; windows from an
    asset's first hours, before its baselines freeze, score differently (measured: realised
    alpha 0.17 at 0.01 when pooled), so they make the ``nobase`` groups of the same regime live
    (module docstring). With fewer than ``MIN_READY`` ready windows every window is taken as
    ready.

    ``patterns``: each window is also scored with every subset of its present modalities (the
    others swapped for their missing tokens, as live scoring does when a modality is missing or
    stale), so every presence pattern gets its own reference as large as the full one. Without
    it a pattern that is rare in the calibration windows (notes absent: 2 gearbox windows of
    3,213) fell back to its asset type's pooled reference, which the complete windows dominate,
    and a window without notes, which scores higher, had p < 0.01 four times in ten
    (docs/MODEL.md, sixth round). The single call ``plantwatch train`` makes at the end of
    training (models/train.py).
    """
    from models.batch import ASSET_TYPES
    from models.validation import predict, predict_patterns

    normal = ds.take(np.flatnonzero(~ds.labels.fault))
    if len(normal) == 0:
        raise ValueError("no normal windows held out for calibration")
    ready = baseline_ready_rows(normal.features)
    if ready.sum() < min(len(normal), MIN_READY):  # too few to tell the regimes apart
        ready[:] = True
    types = np.array([ASSET_TYPES[int(i)] for i in normal.features.asset_type], dtype=object)
    present = np.asarray(normal.features.present, bool)
    assets = np.asarray(getattr(normal.labels, "asset", np.zeros(len(normal))), dtype=object)
    if not patterns:
        score, _, _ = predict(graphdef, state, normal)
        groups = groups_for(list(types), present, ready)
        cal = Calibration.fit(score, groups, assets=list(assets), **kw)
    else:
        masks = presence_masks()
        scores = predict_patterns(graphdef, state, normal, masks)  # (15, N)
        s_all: list[np.ndarray] = []
        g_all: list[str] = []
        a_all: list[str] = []
        for k, mask in enumerate(masks):
            rows = np.flatnonzero(present[:, mask].all(1))  # each (window, subset) once
            s_all.append(scores[k, rows])
            a_all += assets[rows].tolist()
            g_all += groups_for(
                list(types[rows]), np.broadcast_to(mask, (len(rows), len(mask))), ready[rows]
            )
        cal = Calibration.fit(np.concatenate(s_all), g_all, assets=a_all, **kw)
        index = {tuple(m): k for k, m in enumerate(masks)}
        rows = [(index[tuple(p)], i) for i, p in enumerate(present) if p.any()]
        score = scores[[k for k, _ in rows], [i for _, i in rows]]  # each window as it is
    cal.observed = np.asarray(score, np.float64)
    cal.save(model_dir)
    return cal
