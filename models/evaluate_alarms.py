"""``plantwatch evaluate``'s alarm figures: the test windows replayed, in time order, through the
alarm engine's own rules (``plant.alarms.replay``), so the alarm figures are the live system's."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from models.calibration import baseline_ready_rows, groups_for, rate
from models.dataset import Dataset
from models.model import MODALITY_NAMES
from plant.config import PlantConfig

NS = 1_000_000_000
DAY_NS = 86_400 * NS


def health_events(
    test: Dataset,
    score: np.ndarray,
    p: np.ndarray,
    groups: list[str],
    logits,
    version: str,
    p_sensors: np.ndarray | None = None,
) -> Iterator:
    """Time-ordered health events and machine-state changes (from the thermal context).
    ``p_sensors``: each window's p-value with its notes left out (NaN: no notes), as serve
    fills ``p_value_sensors`` for the engine's notes rule."""
    from models.serving.health import fault_of, health_from_p, load_range
    from plant.alarms.replay import StateChange
    from plant.events import HealthEvent
    from plant.readings import MachineState

    lab, f = test.labels, test.features
    health = health_from_p(p)
    faults, fault_p = fault_of(logits)
    running = np.where(f.present[:, 1], f.thermal_ctx[:, -1, 3] > 0.5, True)
    state: dict[str, bool] = {}
    for i in np.lexsort((lab.asset, lab.ts_ns)):
        asset, ts = str(lab.asset[i]), int(lab.ts_ns[i])
        if state.get(asset, True) != bool(running[i]):
            state[asset] = bool(running[i])
            st = MachineState.RUNNING if running[i] else MachineState.STOPPED
            yield StateChange(asset, st, ts)
        yield HealthEvent(
            asset=asset,
            ts_ns=ts,
            health=float(health[i]),
            anomaly_score=float(score[i]),
            p_value=float(p[i]),
            fault_class=faults[i],
            fault_probability=float(fault_p[i]),
            present={n: bool(f.present[i, m]) for m, n in enumerate(MODALITY_NAMES)},
            staleness_s={},
            model_version=version,
            calibration_group=groups[i],
            load_range=load_range(f.thermal_ctx[i, :, 0]) if f.present[i, 1] else None,
            p_value_sensors=(
                None if p_sensors is None or np.isnan(p_sensors[i]) else float(p_sensors[i])
            ),
        )


def alarm_figures(
    plant: PlantConfig,
    test: Dataset,
    p,
    score,
    groups,
    logits,
    episodes,
    version: str,
    p_sensors: np.ndarray | None = None,
) -> dict:
    from plant.alarms.replay import replay

    lab = test.labels
    res = replay(plant, health_events(test, score, p, groups, logits, version, p_sensors))
    row = {(str(a), int(t)): i for i, (a, t) in enumerate(zip(lab.asset, lab.ts_ns, strict=True))}
    t0, t1 = int(lab.ts_ns.min()), int(lab.ts_ns.max())
    assets = sorted(set(lab.asset.tolist()))
    asset_days = len(assets) * max(t1 - t0, 1) / DAY_NS
    true_rows, false_alarms = [], 0
    raised = []
    for r in res.machine():
        i = row.get((r.asset, int(r.ts_ns)))
        if i is None:
            continue
        raised.append((r.asset, int(r.ts_ns), i))
        if lab.fault[i]:
            true_rows.append(i)
        else:
            false_alarms += 1
    eps = [e for e in episodes if e.asset in set(assets) and e.onset_ns < t1 and e.repair_ns > t0]
    due = [e for e in eps if t0 <= e.failure_ns <= t1]
    caught, leads = 0, []
    for e in due:
        hits = [t for a, t, i in raised if a == e.asset and e.onset_ns < t <= e.failure_ns]
        if hits:
            caught += 1
            leads.append((e.failure_ns - min(hits)) / max(e.degradation_ns, 1))
    return {
        "false_alarms_per_asset_day": false_alarms / asset_days if asset_days else None,
        "false_alarms": false_alarms,
        "true_alarms": len(true_rows),
        "recall_before_failure": caught / len(due) if due else None,
        "recall_before_failure_detail": rate(caught, len(due)),
        "lead_time_median_fraction": float(np.median(leads)) if leads else None,
        "lead_time_fractions": [round(x, 4) for x in sorted(leads)],
        "episodes_in_test": len(eps),
        "episodes_failing_in_test": len(due),
        "asset_days": asset_days,
        "floods": res.floods,
        "_true_rows": true_rows,
    }


def sensors_p_values(graphdef, state, cal, ds: Dataset, types: list[str]) -> np.ndarray:
    """(N,) each window's p-value with its operator notes left out, against the calibration
    group of what is left (NaN where the window has no notes): the alarm engine's notes rule
    (``[alarms.persistence] notes_corroborate_alpha``)."""
    from models.validation import predict

    present = np.asarray(ds.features.present, bool)
    notes = MODALITY_NAMES.index("notes")
    out = np.full(len(ds), np.nan)
    rows = present[:, notes]
    if not rows.any():
        return out
    without = present.copy()
    without[:, notes] = False
    s, _, _ = predict(graphdef, state, ds, without)
    ready = baseline_ready_rows(ds.features)
    kept = [t for t, r in zip(types, rows, strict=True) if r]
    p = cal.p_values(s[rows], groups_for(kept, without[rows], ready[rows]))
    out[rows] = np.asarray(p, np.float64)
    return out
