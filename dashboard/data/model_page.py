"""The model page's figures, read from the active model's directory (no Dash here).

- ``evaluation.json`` (``plantwatch evaluate --save``; the keys of issue 4): AUROC fused, per
  modality and of the baselines; AUROC with each modality missing; false alarms per asset-day,
  recall before failure, lead time; the realised false-alarm rate per alpha with its 95 %
  interval; the explanation figures; counts. Without it, the test figures of ``metrics.json``
  (written by ``plantwatch train``) stand in, and the page says which file it shows.
- ``calibration/`` (models/calibration.py): the conformal reference groups, their window counts,
  the group each falls back to, and the score above which a window's p-value is below alpha.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

EVALUATION_FILE = "evaluation.json"
ALPHAS = (0.01, 0.001)
KNOWN = frozenset(
    {
        "auroc", "auroc_missing", "false_alarms_per_asset_day", "recall_before_failure",
        "lead_time_median_fraction", "realised_alpha", "shapley_top_modality_accuracy",
        "bearing_defect_frequency_hit_rate", "counts",
    }
)  # fmt: skip


@dataclasses.dataclass(frozen=True, slots=True)
class Row:
    figure: str
    value: str
    target: str = ""
    met: bool | None = None  # None: no target


@dataclasses.dataclass(frozen=True, slots=True)
class CalibrationPoint:
    alpha: float
    realised: float
    lo: float | None
    hi: float | None
    windows: int | None


@dataclasses.dataclass(frozen=True, slots=True)
class CalibrationGroup:
    group: str
    count: int
    resolves_to: str
    thresholds: dict[float, float]  # alpha -> score above which p < alpha (reference quantile)


@dataclasses.dataclass(frozen=True, slots=True)
class ModelSummary:
    version: str
    model_dir: Path
    created: str
    versions: tuple[str, ...]
    source: str  # which file the figures come from
    rows: tuple[Row, ...]
    auroc: dict[str, float] | None
    ablation: dict[str, float] | None  # AUROC with one modality missing (+ "fused" for reference)
    calibration: tuple[CalibrationPoint, ...]
    groups: tuple[CalibrationGroup, ...]
    manifest: dict
    metrics: dict


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)


def _num(doc: dict, *path: str) -> float | None:
    for k in path:
        if not isinstance(doc, dict) or k not in doc:
            return None
        doc = doc[k]
    return float(doc) if isinstance(doc, int | float) and not isinstance(doc, bool) else None


def evaluation_rows(ev: dict) -> list[Row]:
    """The evaluation table: each figure of issue 4 against its target (DESIGN.md section 7)."""
    rows: list[Row] = []

    def add(label: str, value: float | None, target: str, ok: bool | None) -> None:
        if value is not None:
            rows.append(Row(label, _fmt(value), target, ok))

    auroc = ev.get("auroc") or {}
    fused = _num(auroc, "fused")
    singles = [v for k, v in auroc.items() if k in ("vibration", "thermal", "camera", "notes")]
    best = max(singles) if singles else None
    add(
        "AUROC fused",
        fused,
        ">= 0.99 and >= best single + 0.02",
        None if fused is None else fused >= 0.99 and (best is None or fused >= best + 0.02),
    )
    for k, v in auroc.items():
        if k == "best_single":
            add("AUROC best single modality", _num(auroc, k), "", None)
        elif k != "fused":
            add(f"AUROC {k}", _num(auroc, k), "< fused", None if fused is None else v < fused)
    for k, v in (ev.get("auroc_missing") or {}).items():
        limit = 0.10 if k == "vibration" else 0.02
        target = f"drop <= {limit}" if k != "random30" else "drop <= 0.02"
        add(f"AUROC without {k}", _num(ev, "auroc_missing", k), target,
            None if fused is None else fused - v <= limit)  # fmt: skip
    fa = _num(ev, "false_alarms_per_asset_day")
    add("false alarms per asset-day", fa, "<= 0.01", None if fa is None else fa <= 0.01)
    rec = _num(ev, "recall_before_failure")
    add("recall before failure", rec, ">= 0.95", None if rec is None else rec >= 0.95)
    lead = _num(ev, "lead_time_median_fraction")
    add("median lead time (share of degradation)", lead, ">= 0.5",
        None if lead is None else lead >= 0.5)  # fmt: skip
    for p in calibration_points(ev):
        ok = 0.5 * p.alpha <= p.realised <= 1.5 * p.alpha
        n = f" ({p.windows} windows)" if p.windows is not None else ""
        add(f"realised false-alarm rate at alpha {p.alpha:g}{n}", p.realised,
            f"[{0.5 * p.alpha:g}, {1.5 * p.alpha:g}]", ok)  # fmt: skip
    top = _num(ev, "shapley_top_modality_accuracy")
    add("top Shapley modality = primary", top, ">= 0.90", None if top is None else top >= 0.9)
    hit = _num(ev, "bearing_defect_frequency_hit_rate")
    add("vibration attribution at the defect frequency", hit, ">= 0.80",
        None if hit is None else hit >= 0.8)  # fmt: skip
    for k, v in (ev.get("counts") or {}).items():
        rows.append(Row(f"count: {k}", _fmt(v)))
    for k in sorted(set(ev) - KNOWN):  # any other figure the file has, without a target
        if _num(ev, k) is not None:
            rows.append(Row(k.replace("_", " "), _fmt(ev[k])))
    return rows


def calibration_points(ev: dict) -> list[CalibrationPoint]:
    """Realised false-alarm rate per alpha, from ``realised_alpha`` of an evaluation."""
    out = []
    for key, v in sorted((ev.get("realised_alpha") or {}).items(), key=lambda kv: -float(kv[0])):
        if isinstance(v, dict):
            ci = v.get("ci95") or [None, None]
            windows = v.get("windows")
            out.append(
                CalibrationPoint(
                    float(key),
                    float(v["value"]),
                    ci[0],
                    ci[1],
                    int(windows) if windows is not None else None,
                )
            )
        elif isinstance(v, int | float):
            out.append(CalibrationPoint(float(key), float(v), None, None, None))
    return out


def calibration_groups(model_dir: Path) -> list[CalibrationGroup]:
    """The conformal reference groups of ``<model_dir>/calibration/`` (empty when absent)."""
    d = model_dir / "calibration"
    if not (d / "calibration.json").is_file():
        return []
    doc = json.loads((d / "calibration.json").read_text())
    with np.load(d / "scores.npz", allow_pickle=False) as z:
        flat = np.asarray(z["scores"], np.float64)
    out = []
    for name, g in sorted(doc.get("groups", {}).items(), key=lambda kv: -kv[1]["count"]):
        ref = np.sort(flat[g["offset"] : g["offset"] + g["count"]])
        # p = (1 + #{ref >= s}) / (n + 1) < alpha  <=>  #{ref >= s} < alpha (n + 1) - 1
        thr = {}
        for a in ALPHAS:
            k = int(np.ceil(a * (len(ref) + 1) - 1))  # at most k-1 reference scores >= s
            thr[a] = float(ref[len(ref) - k]) if 0 < k <= len(ref) else float("nan")
        out.append(CalibrationGroup(name, int(g["count"]), str(g.get("resolves_to", "")), thr))
    return out


def model_summary(registry_dir: Path) -> ModelSummary | None:
    """The active model's figures (None: no active model)."""
    from models import registry  # the registry's own reader

    active = registry.active_version(registry_dir)
    if active is None:
        return None
    info = registry.describe(registry_dir, active)
    metrics, manifest = info["metrics"], info["manifest"]
    model_dir = Path(registry_dir) / active
    ev_path = model_dir / EVALUATION_FILE
    if ev_path.is_file():
        ev, source = json.loads(ev_path.read_text()), EVALUATION_FILE
    else:
        ev, source = metrics.get("test", {}), "metrics.json (test split; no evaluation.json yet)"
    auroc = ev.get("auroc") or None
    ablation = ev.get("auroc_missing") or None
    if ablation and auroc and "fused" in auroc:
        ablation = {"fused (all present)": auroc["fused"], **ablation}
    return ModelSummary(
        version=active,
        model_dir=model_dir,
        created=str(manifest.get("created", manifest.get("created_ns", ""))),
        versions=tuple(registry.versions(registry_dir)),
        source=source,
        rows=tuple(evaluation_rows(ev)),
        auroc=auroc,
        ablation=ablation,
        calibration=tuple(calibration_points(ev)),
        groups=tuple(calibration_groups(model_dir)),
        manifest=manifest,
        metrics=metrics,
    )
