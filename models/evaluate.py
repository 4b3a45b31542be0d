"""The evaluation of issue 4: every figure, on the held-out test assets and period, as one dict.

``evaluate(model_dir, data, plant)`` loads the model, the labelled windows of ``data`` (the same
cached window assembly and the same split as training: test assets, test period only; the split is
read from the model's ``metrics.json``), and computes:

- **detection**: AUROC (fault vs normal per window) of the fused score, of each modality alone
  (only that modality present), of the late-fusion-only, early-fusion-only and classical
  baselines (``baselines=True``; models/baselines.py), fault-class macro-F1;
- **missing modalities**: AUROC with each modality removed at inference, on the windows whose
  fault is still visible in a remaining present modality (normal windows: all), beside the full
  model's AUROC on the same windows; and with each present modality dropped at random (p = 0.3);
- **alarms**: the test windows (each asset at the training interval) become health events
  (conformal p-value from the model's ``calibration/``, health and fault class as the live scorer
  computes them, models/serving/health.py) and are replayed through the live alarm engine
  (plant.alarms.replay) with the plant's k-of-m rule and machine-state suppression; false alarms
  per asset-day, recall before failure, lead time as a fraction of the degradation interval;
  realised false-alarm rate of the p-values on normal test windows (Clopper-Pearson intervals);
- **explanations**: for the windows that raised true alarms, whether the top Shapley modality is
  the fault's primary modality, and for bearing faults whether the strongest envelope attribution
  lies on the defect frequency (BPFO, BPFI or 2xBSF) or a harmonic. The same is reported over all
  fault windows (``*_windows``) since true alarms may be few.

Rates come with their counts and 95 % Clopper-Pearson intervals.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from models.batch import ASSET_TYPES
from models.calibration import (
    Calibration,
    baseline_ready_rows,
    groups_for,
    rate,
    realised_alpha,
)
from models.dataset import Dataset
from models.evaluate_alarms import alarm_figures, sensors_p_values
from models.metrics import auroc, fault_class_of, macro_f1
from models.model import MODALITY_NAMES
from models.splits import Split
from plant.config import PlantConfig
from plant.labels import FAULT_CLASSES, FaultClass, FaultEpisode

log = logging.getLogger(__name__)
ALPHAS = (0.01, 0.001)
BEARING_FAULTS = {
    FaultClass.BEARING_OUTER: "bpfo_hz",
    FaultClass.BEARING_INNER: "bpfi_hz",
    FaultClass.BEARING_BALL: "ball_defect_hz",
}


def _num(x: float) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None


def load_split(model_dir: Path) -> Split | None:
    path = model_dir / "metrics.json"
    if not path.is_file():
        return None
    doc = json.loads(path.read_text()).get("split")
    if not doc:
        return None
    return Split(
        tuple(doc["train_assets"]), tuple(doc["val_assets"]), tuple(doc["test_assets"]),
        int(doc["cut_ns"]),
    )  # fmt: skip


def split_parts(ds: Dataset, split: Split) -> dict[str, Dataset]:
    """Training's split; the test part is every window after the cut of an asset that was
    neither a training nor a validation asset. On the training store that is exactly the test
    assets' test period; on another store of the same plant (a new seed, later dates, more
    assets) it also takes in the assets training never saw."""
    masks = split.masks(ds.labels.asset, ds.labels.ts_ns)
    seen = np.isin(ds.labels.asset, split.train_assets + split.val_assets)
    masks["test"] = ~seen & (ds.labels.ts_ns >= split.cut_ns)
    return {k: ds.take(np.flatnonzero(v)) for k, v in masks.items()}


# --- detection ---------------------------------------------------------------------------------
def detection(graphdef, state, test: Dataset, seed: int = 0) -> dict:
    from models.validation import predict

    y = test.labels.fault
    present = test.features.present
    score, late, logits = predict(graphdef, state, test)
    out: dict[str, Any] = {"auroc": {"fused": _num(auroc(y, score))}, "auroc_late_head": {}}
    counts = {"fused": {"windows": len(y), "fault_windows": int(y.sum())}}
    for m, name in enumerate(MODALITY_NAMES):
        only = np.zeros_like(present)
        only[:, m] = present[:, m]
        rows = present[:, m]
        s_m, _, _ = predict(graphdef, state, test, only)
        out["auroc"][name] = _num(auroc(y[rows], s_m[rows]))
        out["auroc_late_head"][name] = _num(auroc(y[rows], late[rows, m]))
        counts[name] = {"windows": int(rows.sum()), "fault_windows": int((y & rows).sum())}
    singles = [out["auroc"][n] for n in MODALITY_NAMES if out["auroc"][n] is not None]
    out["auroc"]["best_single"] = max(singles) if singles else None
    out["auroc_counts"] = counts
    out["macro_f1"] = _num(macro_f1(test.labels.fault_class[y], fault_class_of(logits[y])))
    out["macro_f1_windows"] = int(y.sum())

    # missing modalities: removed at inference, on windows whose fault stays visible
    vis = test.labels.visible & present
    miss: dict[str, Any] = {}
    detail: dict[str, Any] = {}
    for m, name in enumerate(MODALITY_NAMES):
        drop = present.copy()
        drop[:, m] = False
        rows = (~y | (vis & drop).any(1)) & drop.any(1)
        s_d, _, _ = predict(graphdef, state, test, drop)
        a, ref = auroc(y[rows], s_d[rows]), auroc(y[rows], score[rows])
        miss[name] = _num(a)
        detail[name] = {
            "auroc": _num(a), "full_auroc_same_windows": _num(ref),
            "drop": _num(ref - a), "windows": int(rows.sum()), "fault_windows": int(y[rows].sum()),
        }  # fmt: skip
    rng = np.random.default_rng(seed)
    keep = present & (rng.random(present.shape) >= 0.3)
    rows = (~y | (vis & keep).any(1)) & keep.any(1)
    s_r, _, _ = predict(graphdef, state, test, keep)
    a, ref = auroc(y[rows], s_r[rows]), auroc(y[rows], score[rows])
    miss["random30"] = _num(a)
    detail["random30"] = {
        "auroc": _num(a), "full_auroc_same_windows": _num(ref), "drop": _num(ref - a),
        "windows": int(rows.sum()), "fault_windows": int(y[rows].sum()),
        "modalities_dropped": int((present & ~keep).sum()),
    }  # fmt: skip
    out["auroc_missing"] = miss
    out["auroc_missing_detail"] = detail
    out["_score"], out["_logits"] = score, logits
    return out


# --- explanations ------------------------------------------------------------------------------
def explanation_figures(
    scorer, plant: PlantConfig, test: Dataset, rows: list[int], limit: int = 2000, seed: int = 0
) -> dict:
    """Top-Shapley-modality accuracy and bearing defect-frequency hit rate over ``rows``."""
    from models.explain import Explainer, defect_hit
    from plant.physics.bearing import defect_frequencies

    rows = list(rows)
    if len(rows) > limit:
        rows = sorted(np.random.default_rng(seed).choice(rows, limit, replace=False).tolist())
    if not rows:
        return {"top_modality": rate(0, 0), "bearing_hit": rate(0, 0), "explained": 0}
    ex = Explainer(scorer)
    sub = test.take(np.asarray(rows))
    docs = ex.explain_arrays(sub.features, evidence=True)
    lab = sub.labels
    top_ok = top_n = hit_ok = hit_n = 0
    by_class: dict[str, list[int]] = {}
    for j, doc in enumerate(docs):
        prim = int(lab.primary[j])
        if prim >= 0 and sub.features.present[j, prim]:
            top_n += 1
            top_ok += doc["primary"] == MODALITY_NAMES[prim]
        fault = FAULT_CLASSES[int(lab.fault_class[j])]
        asset = plant.asset(str(lab.asset[j]))
        vib = doc.get("evidence", {}).get("vibration")
        if fault in BEARING_FAULTS and vib and vib["bands"] and asset is not None:
            d = defect_frequencies(asset.config.bearing, 1.0)
            target = getattr(d, BEARING_FAULTS[fault])
            ok = defect_hit(vib["bands"][0]["order"], target, ex.step)
            hit_n += 1
            hit_ok += ok
            by_class.setdefault(fault.value, [0, 0])
            by_class[fault.value][0] += ok
            by_class[fault.value][1] += 1
    return {
        "top_modality": rate(top_ok, top_n),
        "bearing_hit": rate(hit_ok, hit_n),
        "bearing_hit_by_class": {k: rate(*v) for k, v in by_class.items()},
        "explained": len(rows),
    }


# --- baselines ---------------------------------------------------------------------------------
def classical_auroc(
    plant: PlantConfig, data: Path, train: Dataset, test: Dataset, n_fit: int, seed: int = 0
) -> dict:
    """Isolation forest on hand-crafted features of the raw windows (models/baselines.py)."""
    from ingest.assembly import iter_windows
    from ingest.store.reader import StoreReader
    from models.baselines import ClassicalBaseline

    rng = np.random.default_rng(seed)
    normal = np.flatnonzero(~train.labels.fault)
    fit_rows = np.sort(rng.choice(normal, min(n_fit, len(normal)), replace=False))
    want_fit = {(str(train.labels.asset[i]), int(train.labels.ts_ns[i])) for i in fit_rows}
    want_test = {(str(a), int(t)): i for i, (a, t) in
                 enumerate(zip(test.labels.asset, test.labels.ts_ns, strict=True))}  # fmt: skip
    assets = sorted({a for a, _ in want_fit} | {a for a, _ in want_test})
    times = sorted({t for _, t in want_fit} | {t for _, t in want_test})
    reader = StoreReader(data)
    fit_w, test_w, test_idx = [], [], []
    t_start = time.monotonic()
    for w in iter_windows(plant, reader, assets, times):
        if w is None:
            continue
        key = (w.asset, int(w.ts_ns))
        if key in want_fit:
            fit_w.append(w)
        if key in want_test:
            test_w.append(w)
            test_idx.append(want_test[key])
    log.info("classical: %d fit + %d test windows assembled in %.0f s",
             len(fit_w), len(test_w), time.monotonic() - t_start)  # fmt: skip
    model = ClassicalBaseline(plant, seed).fit(fit_w)
    s = model.score(test_w)
    y = test.labels.fault[np.asarray(test_idx, int)]
    return {"auroc": _num(auroc(y, s)), "fit_windows": len(fit_w), "test_windows": len(test_w)}


def variant_auroc(
    cfg, fusion: str, ds: Dataset, test: Dataset, workdir: Path, epochs: int | None = None
) -> dict:
    from models.baselines import train_variant
    from models.validation import predict

    t = time.monotonic()
    graphdef, state, _ = train_variant(cfg, fusion, ds, workdir, epochs)
    score, _, _ = predict(graphdef, state, test)
    y = test.labels.fault
    return {
        "auroc": _num(auroc(y, score)),
        "train_seconds": time.monotonic() - t,
        "epochs": epochs or cfg.train.epochs,
        "dir": str(workdir),
    }


# --- the whole evaluation ----------------------------------------------------------------------
def evaluate(
    model_dir: Path,
    data: Path,
    plant: PlantConfig,
    *,
    baselines: bool = False,
    shifted: Path | None = None,
    classical_windows: int = 1500,
    explain_limit: int = 2000,
    baselines_dir: Path | None = None,
    variant_epochs: int | None = None,
    new_plant: bool = False,
) -> dict:
    from ingest.store.reader import StoreReader
    from models.scoring import Scorer
    from models.store_data import load_store_dataset

    t_start = time.monotonic()
    model_dir = Path(model_dir)
    scorer = Scorer.load(model_dir)
    cfg, graphdef, state = scorer.cfg, scorer.graphdef, scorer.state
    ds = load_store_dataset(Path(data), plant, cfg, cache_dir=model_dir.parent / ".cache")
    split = load_split(model_dir)
    if split is None:
        from models.train import split_dataset

        split, _ = split_dataset(ds, cfg)
    parts = split_parts(ds, split)
    if new_plant:  # another plant: its assets share names with training's, not their history
        if baselines:
            raise ValueError(
                "--baselines trains variants on the training store's split; "
                "run it on the training store, not with --new-plant"
            )
        parts["test"] = ds
    test = parts["test"]
    if len(test) == 0:
        raise ValueError("no test windows: the store does not cover the model's test period")
    episodes: list[FaultEpisode] = StoreReader(Path(data)).labels()

    det = detection(graphdef, state, test)
    score, logits = det.pop("_score"), det.pop("_logits")
    types = [ASSET_TYPES[int(i)] for i in test.features.asset_type]
    groups = groups_for(types, test.features.present, baseline_ready_rows(test.features))
    if Calibration.exists(model_dir):
        cal, cal_source = Calibration.load(model_dir), "model directory calibration/"
    else:  # an old model: calibrate now on its validation normal windows (held out)
        from models.calibration import calibrate_dataset

        cal = calibrate_dataset(graphdef, state, parts["val"], model_dir / "evaluation-calibration")
        cal_source = "fitted by evaluate on validation normal windows"
    p = cal.p_values(score, groups)
    normal = ~test.labels.fault
    realised = {str(a): realised_alpha(p[normal], a) for a in ALPHAS}

    p_sensors = sensors_p_values(graphdef, state, cal, test, types)
    alarms = alarm_figures(
        plant, test, p, score, groups, logits, episodes, scorer.version, p_sensors
    )
    true_rows = alarms.pop("_true_rows")
    ex_alarm = explanation_figures(scorer, plant, test, true_rows, explain_limit)
    ex_all = explanation_figures(
        scorer, plant, test, np.flatnonzero(test.labels.fault).tolist(), explain_limit
    )

    auroc_all = dict(det["auroc"])
    auroc_all.update({"late_fusion": None, "early_fusion": None, "classical": None})
    base_detail: dict[str, Any] = {"run": baselines}
    if baselines:
        bdir = Path(baselines_dir or model_dir / "baselines")
        for fusion in ("late", "early"):
            r = variant_auroc(cfg, fusion, ds, test, bdir / fusion, variant_epochs)
            auroc_all[f"{fusion}_fusion"] = r["auroc"]
            base_detail[f"{fusion}_fusion"] = r
        c = classical_auroc(plant, Path(data), parts["train"], test, classical_windows)
        auroc_all["classical"] = c["auroc"]
        base_detail["classical"] = c

    lab = test.labels
    t_lo, t_hi, names = int(lab.ts_ns.min()), int(lab.ts_ns.max()), set(lab.asset.tolist())
    fault_eps = {
        (e.asset, e.onset_ns)
        for e in episodes
        if e.asset in names and e.onset_ns < t_hi and e.repair_ns > t_lo
    }
    out: dict[str, Any] = {
        "model": str(model_dir),
        "data": str(data),
        "auroc": auroc_all,
        "auroc_late_head": det["auroc_late_head"],
        "auroc_counts": det["auroc_counts"],
        "auroc_missing": det["auroc_missing"],
        "auroc_missing_detail": det["auroc_missing_detail"],
        "macro_f1": det["macro_f1"],
        "macro_f1_windows": det["macro_f1_windows"],
        "false_alarms_per_asset_day": alarms["false_alarms_per_asset_day"],
        "recall_before_failure": alarms["recall_before_failure"],
        "lead_time_median_fraction": alarms["lead_time_median_fraction"],
        "alarms": alarms,
        "realised_alpha": realised,
        "calibration_source": cal_source,
        "shapley_top_modality_accuracy": ex_alarm["top_modality"]["value"],
        "bearing_defect_frequency_hit_rate": ex_alarm["bearing_hit"]["value"],
        "explanations_true_alarms": ex_alarm,
        "shapley_top_modality_accuracy_windows": ex_all["top_modality"]["value"],
        "bearing_defect_frequency_hit_rate_windows": ex_all["bearing_hit"]["value"],
        "explanations_fault_windows": ex_all,
        "baselines": base_detail,
        "counts": {
            "windows": len(test),
            "fault_windows": int(lab.fault.sum()),
            "normal_windows": int((~lab.fault).sum()),
            "assets": len(set(lab.asset.tolist())),
            "asset_days": alarms["asset_days"],
            "faults": len(fault_eps),
            "train_windows": len(parts["train"]),
            "val_windows": len(parts["val"]),
        },
        "split": {
            "test_assets": len(split.test_assets),
            "cut_ns": split.cut_ns,
            "new_plant": new_plant,
        },
        "alarm_rule": {
            **plant.alarms.persistence.model_dump(mode="json"),
            "transient_load_range": plant.alarms.transient.load_range,
            "transient_hold_s": plant.alarms.transient.hold_s,
        },
    }
    if shifted is not None:
        out["shifted"] = shifted_figures(graphdef, state, cal, Path(shifted), plant, cfg, split,
                                         model_dir)  # fmt: skip
    out["seconds"] = time.monotonic() - t_start
    return out


def shifted_figures(graphdef, state, cal, data: Path, plant, cfg, split: Split, model_dir) -> dict:
    """The shifted-conditions set (``plantwatch generate --shift``): every window of the assets
    training never saw (neither training nor validation assets), all times."""
    from models.store_data import load_store_dataset

    ds = load_store_dataset(data, plant, cfg, cache_dir=model_dir.parent / ".cache")
    seen = np.isin(ds.labels.asset, split.train_assets + split.val_assets)
    sub = ds.take(np.flatnonzero(~seen))
    if len(sub) == 0:
        return {"error": "no windows of the test assets in the shifted store"}
    det = detection(graphdef, state, sub)
    score = det.pop("_score")
    det.pop("_logits")
    types = [ASSET_TYPES[int(i)] for i in sub.features.asset_type]
    p = cal.p_values(
        score, groups_for(types, sub.features.present, baseline_ready_rows(sub.features))
    )
    normal = ~sub.labels.fault
    return {
        "data": str(data),
        "auroc": det["auroc"],
        "auroc_missing": det["auroc_missing"],
        "macro_f1": det["macro_f1"],
        "realised_alpha": {str(a): realised_alpha(p[normal], a) for a in ALPHAS},
        "counts": {
            "windows": len(sub),
            "fault_windows": int(sub.labels.fault.sum()),
            "assets": len(set(sub.labels.asset.tolist())),
        },
    }
