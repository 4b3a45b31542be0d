"""The model's branches on real public data (../shared/data; read each PROVENANCE.md first).

**CWRU bearings, vibration branch.** Detection is saturated on CWRU (every fault record is louder
than the one normal record), so what is measured is *diagnosis*: the fault class (inner race /
ball / outer race) from the model's own vibration branch (in-graph order and envelope-order
spectra, ``FusionModel.encode_modality(0)``, a linear head on its mean-pooled tokens), and where
its explanation lands: integrated gradients (from the training mean spectrum) of the predicted
class's logit over the envelope order bins, as ``models/explain.py`` does; the top bin should lie
on BPFI (inner race) or BPFO (outer race) or a harmonic (CWRU's 6205 geometry, per-record RPM).
Folds by fault size (0.007 / 0.014 / 0.021 in): each fold trains on the two other sizes and tests
on this one, so no record is on both sides; every record is reported. Segments: 8192 samples
(0.68 s at 12 kHz), half-overlapping, drive-end channel. Ball faults are known to be hard
(PROVENANCE.md).

**Magnetic tiles, image branch.** Defect-free vs defect (blowhole, break, crack) **within one
lighting setting** (``exp1``: file names carry the setting, and brightness rises with it, so mixing
settings would measure lighting). The model's camera encoder (``encode_modality(2)``) + a linear
head on its mean-pooled patch tokens, a seeded half/half split per class by image. Saliency as in
``models/explain.py`` (|gradient x (pixel - mean)| per patch cell) is checked against the pixel
masks: pointing game (the most salient cell contains defect pixels; chance = the share of defect
cells) and IoU of the top-k cells with the defect cells (k = number of defect cells).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from models.batch import empty_batch, resize_nearest
from models.config import ModelConfig
from models.explain import defect_hit
from models.features import NormStats, fit_vibration_stats, identity_stats
from models.metrics import auroc
from models.model import FusionModel, featurize
from plant.config.assets import BearingGeometry
from plant.physics.bearing import defect_frequencies

log = logging.getLogger(__name__)
CWRU_GEOMETRY = BearingGeometry(n_elements=9, ball_diameter_mm=0.3126 * 25.4,
                                pitch_diameter_mm=1.537 * 25.4)  # fmt: skip
CWRU_CLASSES = ("inner_race", "ball", "outer_race")
SEGMENT = 8192
FS = 12_000.0


def vib_config() -> ModelConfig:
    return ModelConfig.model_validate(
        {
            "inputs": {"vibration_samples": SEGMENT, "vibration_channels": 1, "order_bins": 256,
                       "max_order": 16.0, "envelope_band_hz": [1000.0, 6000.0]},
            "arch": {"width": 32},
        }
    )  # fmt: skip


def image_config(size: int = 64) -> ModelConfig:
    return ModelConfig.model_validate({"inputs": {"image_size": size}, "arch": {"width": 32}})


class Branch(nnx.Module):
    """One modality branch of the fusion model (encoder as in the model) + a linear head."""

    def __init__(self, cfg: ModelConfig, m: int, n_out: int, seed: int, stats: NormStats):
        rngs = nnx.Rngs(params=seed)
        self.m = m
        self.model = FusionModel(cfg, rngs, stats=stats)
        self.head = nnx.Linear(cfg.arch.width, n_out, rngs=rngs)

    def __call__(self, f) -> jax.Array:
        tokens, _ = self.model.encode_modality(self.m, f)
        return self.head(tokens.mean(1))


def _train(
    branch: Branch, f_all, y: np.ndarray, steps: int, batch: int, seed: int, augment: str
) -> Branch:
    """Class-balanced minibatches; ``augment``: "gain" (a random overall level per segment:
    a constant added to the log spectra, so the branch cannot key on loudness, which differs
    between fault sizes) or "flip" (random horizontal / vertical image flips)."""
    opt = nnx.Optimizer(branch, optax.adamw(2e-3, weight_decay=1e-4), wrt=nnx.Param)
    graphdef, state = nnx.split((branch, opt))

    @jax.jit
    def step(state, f, yb, key):
        b, o = nnx.merge(graphdef, state)
        k1 = key
        if augment == "gain":
            shift = jax.random.uniform(k1, (f.vib.shape[0], 1, 1, 1), minval=-0.5, maxval=0.5)
            f = f._replace(vib=f.vib + shift)
        elif augment == "flip":
            flip = jax.random.bernoulli(k1, 0.5, (f.image.shape[0], 2))
            img = jnp.where(flip[:, 0, None, None, None], f.image[:, ::-1], f.image)
            f = f._replace(image=jnp.where(flip[:, 1, None, None, None], img[:, :, ::-1], img))

        def loss_fn(m):
            logits = m(f)
            return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

        loss, grads = nnx.value_and_grad(loss_fn, argnums=nnx.DiffState(0, nnx.Param))(b)
        o.update(b, grads)
        return nnx.state((b, o)), loss

    rng = np.random.default_rng(seed)
    key = jax.random.key(seed)
    classes = [np.flatnonzero(y == c) for c in np.unique(y)]
    per = max(1, batch // len(classes))
    for _ in range(steps):
        idx = np.concatenate([rng.choice(c, per, replace=len(c) < per) for c in classes])
        f = jax.tree.map(lambda a, idx=idx: jnp.asarray(a[idx]), f_all)
        key, sub = jax.random.split(key)
        state, _ = step(state, f, jnp.asarray(y[idx]), sub)
    return nnx.merge(graphdef, state)[0]


def _grad_attr(branch: Branch, f, cls: np.ndarray, field: str, ref=None, steps: int = 1):
    """The logits, and the ``cls`` logit's gradient w.r.t. ``f.<field>`` (per row); with ``ref``
    and ``steps`` > 1, the path-averaged gradient from ``ref`` to the input (integrated gradients
    are then ``grad * (x - ref)``, as models/explain.py does for the vibration spectra)."""
    graphdef, state = nnx.split(branch)
    x = getattr(f, field)
    ref = np.zeros_like(x) if ref is None else np.broadcast_to(ref, x.shape).astype(x.dtype)

    @jax.jit
    def run(state, f, cls, ref):
        b = nnx.merge(graphdef, state)
        logits = b(f)
        x = getattr(f, field)
        alphas = (jnp.arange(steps, dtype=jnp.float32) + 0.5) / steps if steps > 1 else [1.0]
        grads = []
        for a in alphas:  # a short unrolled path (steps is small)

            def logit(z):
                out = nnx.merge(graphdef, state)(f._replace(**{field: z}))
                return jnp.take_along_axis(out, cls[:, None], 1).sum()

            grads.append(jax.grad(logit)(ref + a * (x - ref)))
        return sum(grads) / len(grads), logits

    return run(state, f, jnp.asarray(cls), ref)


# --- CWRU ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CwruRecord:
    name: str
    condition: str  # normal / inner_race / ball / outer_race
    size_in: float | None
    rpm: float
    signal: np.ndarray  # drive-end, at 12 kHz


def load_cwru(root: Path) -> list[CwruRecord]:
    from scipy.io import loadmat
    from scipy.signal import decimate

    out = []
    for path in sorted((root / "Data").rglob("*.mat")):
        mat = loadmat(path)
        de = next(v for k, v in mat.items() if k.endswith("_DE_time")).ravel().astype(np.float64)
        rpm = float(next(v for k, v in mat.items() if k.endswith("RPM")).ravel()[0])
        name = path.stem
        if name.startswith("Normal"):  # 48 kHz (PROVENANCE.md): decimate by 4, anti-aliased
            out.append(CwruRecord(name, "normal", None, rpm, decimate(de, 4, ftype="fir")))
            continue
        kind = {"IR": "inner_race", "B": "ball", "OR": "outer_race"}[re.match(r"[A-Z]+", name)[0]]
        size = int(re.search(r"(\d{3})", name)[1]) / 1000.0
        out.append(CwruRecord(name, kind, size, rpm, de))
    return out


def segments(x: np.ndarray, n: int = SEGMENT, hop: int = SEGMENT // 2) -> np.ndarray:
    starts = np.arange(0, len(x) - n + 1, hop)
    return np.stack([x[s : s + n] for s in starts]).astype(np.float32)


def _vib_features(cfg: ModelConfig, segs: np.ndarray, rpm: np.ndarray):
    b = empty_batch(cfg.inputs, len(segs))
    b = b._replace(
        vibration=segs[:, None, :],
        vibration_len=np.full(len(segs), segs.shape[1], np.int32),
        sample_rate_hz=np.full(len(segs), FS, np.float32),
        shaft_speed_hz=(rpm / 60.0).astype(np.float32),
        present=np.tile(np.array([True, False, False, False]), (len(segs), 1)),
    )
    f = jax.jit(featurize, static_argnames=("cfg",))(b, cfg)
    return jax.tree.map(np.asarray, f)


def cwru_diagnosis(root: Path, steps: int = 300, seed: int = 0) -> dict:
    """Per-record fault-class accuracy and BPFI/BPFO explanation hits, folds by fault size."""
    cfg = vib_config()
    recs = [r for r in load_cwru(root) if r.condition != "normal"]
    sizes = sorted({r.size_in for r in recs})
    step_o = cfg.inputs.max_order / cfg.inputs.order_bins
    d = defect_frequencies(CWRU_GEOMETRY, 1.0)
    target = {"inner_race": d.bpfi_hz, "outer_race": d.bpfo_hz, "ball": d.ball_defect_hz}
    per_record = []
    for size in sizes:
        train = [r for r in recs if r.size_in != size]
        test = [r for r in recs if r.size_in == size]
        segs = [segments(r.signal) for r in train]
        x = np.concatenate(segs)
        y = np.concatenate([[CWRU_CLASSES.index(r.condition)] * len(s) for r, s in
                            zip(train, segs, strict=True)])  # fmt: skip
        rpm = np.concatenate([[r.rpm] * len(s) for r, s in zip(train, segs, strict=True)])
        f = _vib_features(cfg, x, rpm)
        mean, std = fit_vibration_stats(f.vib, np.ones(len(x), bool))
        stats = identity_stats(cfg.inputs, 1)._replace(vib_mean=mean, vib_std=std)
        branch = Branch(cfg, 0, len(CWRU_CLASSES), seed, stats)
        branch = _train(branch, f, y, steps, 48, seed, "gain")
        for r in test:
            s = segments(r.signal)
            ft = _vib_features(cfg, s, np.full(len(s), r.rpm))
            _, logits = _grad_attr(branch, ft, np.zeros(len(s), np.int32), "vib")
            pred = np.asarray(logits).argmax(1)
            ref = mean[None, None]
            g, _ = _grad_attr(branch, ft, pred.astype(np.int32), "vib", ref, steps=16)
            attr = (np.asarray(g) * (ft.vib - ref)).sum(1)[:, 1]  # envelope row
            peak = attr.argmax(1) * step_o
            hits = [defect_hit(float(o), target[r.condition], step_o) for o in peak]
            # reference without learning: the same in-graph envelope order spectrum's largest
            # bin between orders 1.5 and 8 (over the segment's median level)
            env = ft.vib[:, 0, 1]
            lo, hi = int(1.5 / step_o), int(8 / step_o)
            rule = (np.argmax(env[:, lo:hi] - np.median(env, 1, keepdims=True), 1) + lo) * step_o
            rule_hits = [defect_hit(float(o), target[r.condition], step_o) for o in rule]
            per_record.append(
                {
                    "record": r.name,
                    "condition": r.condition,
                    "fault_size_in": r.size_in,
                    "segments": len(s),
                    "accuracy": float(np.mean(pred == CWRU_CLASSES.index(r.condition))),
                    "predicted": {c: int((pred == i).sum()) for i, c in enumerate(CWRU_CLASSES)},
                    "explanation_hit_rate": float(np.mean(hits)),
                    "median_peak_order": float(np.median(peak)),
                    "envelope_rule_hit_rate": float(np.mean(rule_hits)),
                    "target_order": float(target[r.condition]),
                }
            )
    ir_or = [p for p in per_record if p["condition"] != "ball"]
    return {
        "records": per_record,
        "accuracy_all_segments": _weighted(per_record, "accuracy"),
        "accuracy_inner_outer": _weighted(ir_or, "accuracy"),
        "explanation_hit_rate_inner_outer": _weighted(ir_or, "explanation_hit_rate"),
        "envelope_rule_hit_rate_inner_outer": _weighted(ir_or, "envelope_rule_hit_rate"),
        "folds": "test fault size s, train on the two other sizes (no record on both sides)",
        "steps": steps,
    }


def _weighted(rows: list[dict], key: str) -> float:
    n = sum(r["segments"] for r in rows)
    return sum(r[key] * r["segments"] for r in rows) / n if n else float("nan")


# --- magnetic tiles -----------------------------------------------------------------------------
def load_tiles(root: Path, lighting: str = "exp1", size: int = 64) -> tuple:
    """(images (N, S, S, 3) uint8, defect cells (N, G, G) bool, labels (N,) 1 = defect, names).

    The defect cells are computed from the full-resolution mask (a cell is defective when any
    of its pixels is), so thin cracks are not lost to the image's resize."""
    from PIL import Image

    imgs, masks, labels, names = [], [], [], []
    for folder in sorted(root.glob("MT_*")):
        defect = folder.name != "MT_Free"
        for jpg in sorted((folder / "Imgs").glob(f"{lighting}_*.jpg")):
            g = np.asarray(Image.open(jpg).convert("L"))
            m = np.asarray(Image.open(jpg.with_suffix(".png")).convert("L")) > 127
            imgs.append(resize_nearest(np.repeat(g[..., None], 3, -1), size))
            masks.append(grid_mask(m, -(-size // 8)))
            labels.append(int(defect))
            names.append(f"{folder.name}/{jpg.name}")
    return np.stack(imgs), np.stack(masks), np.array(labels), names


def grid_mask(mask: np.ndarray, grid: int) -> np.ndarray:
    """(H, W) bool -> (grid, grid): a cell is True when any pixel inside it is."""
    h, w = mask.shape
    rows = np.minimum(np.arange(h) * grid // h, grid - 1)
    cols = np.minimum(np.arange(w) * grid // w, grid - 1)
    out = np.zeros((grid, grid), bool)
    rr, cc = np.nonzero(mask)
    out[rows[rr], cols[cc]] = True
    return out


def tiles_saliency(root: Path, steps: int = 300, seed: int = 0, lighting: str = "exp1") -> dict:
    cfg = image_config()
    imgs, masks, y, _names = load_tiles(root, lighting, cfg.inputs.image_size)
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), bool)
    for c in (0, 1):
        idx = np.flatnonzero(y == c)
        test[rng.permutation(idx)[: len(idx) // 2]] = True
    b = empty_batch(cfg.inputs, len(y))
    pres = np.tile(np.array([False, False, True, False]), (len(y), 1))
    f = jax.tree.map(np.asarray, featurize(b._replace(image=imgs, present=pres), cfg))
    f = f._replace(image=f.image.astype(np.float32))
    stats = identity_stats(cfg.inputs, 1)
    tr = jax.tree.map(lambda a: a[~test], f)
    branch = _train(Branch(cfg, 2, 2, seed, stats), tr, y[~test], steps, 32, seed, "flip")
    te = jax.tree.map(lambda a: a[test], f)
    g, logits = _grad_attr(branch, te, np.ones(int(test.sum()), np.int32), "image")
    logits = np.asarray(logits)
    score = logits[:, 1] - logits[:, 0]
    img = te.image
    sal = np.abs(np.asarray(g) * (img - img.mean((1, 2, 3), keepdims=True))).sum(-1)
    side = sal.shape[1]
    grid = -(-side // 8)
    cell = side // grid
    sal_g = sal.reshape(-1, grid, cell, grid, cell).sum((2, 4)).reshape(len(sal), -1)
    m_g = masks[test].reshape(len(sal), -1)
    yt = y[test]
    point, iou, chance = [], [], []
    for i in np.flatnonzero(yt == 1):
        if not m_g[i].any():
            continue
        point.append(bool(m_g[i, sal_g[i].argmax()]))
        k = int(m_g[i].sum())
        top = np.zeros_like(m_g[i])
        top[np.argsort(-sal_g[i])[:k]] = True
        iou.append(float((top & m_g[i]).sum() / (top | m_g[i]).sum()))
        chance.append(float(m_g[i].mean()))
    return {
        "lighting": lighting,
        "images": {
            "train": int((~test).sum()),
            "test": int(test.sum()),
            "test_defect": int(yt.sum()),
            "test_free": int((yt == 0).sum()),
        },
        "auroc_defect_vs_free": auroc(yt.astype(bool), score),
        "accuracy": float(np.mean((score > 0) == (yt == 1))),
        "pointing_game_hit_rate": float(np.mean(point)) if point else float("nan"),
        "pointing_game_chance": float(np.mean(chance)) if chance else float("nan"),
        "top_k_cell_iou_mean": float(np.mean(iou)) if iou else float("nan"),
        "grid": [grid, grid],
        "steps": steps,
        "mean_brightness": {
            "free": float(imgs[y == 0].mean()),
            "defect": float(imgs[y == 1].mean()),
        },
    }
