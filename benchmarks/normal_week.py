"""A simulated normal week, replayed faster than real time through the scorer and alarm engine.

The benchmark plant (every family scaled to ``--assets`` in all; default 200) with no faults
(``faults_per_asset_year = 0``; machine stops, stuck sensors and message disorder as configured)
is simulated for ``--days`` and every message goes, in publish order, through the live path of
``plantwatch serve`` (``ScoringService.process``: validation, window assembly, incremental
scoring, the alarm engine) with the engine's clock replaced by plant time (ticks every plant
minute). Reported: machine alarms per asset-day with the count of asset-days (target <= 0.01)
and a 95 % Poisson upper bound, floods, other alarm kinds, and machine alarms raised while the
asset was not running (must be 0). The model is ``--model`` or data/BEST_MODEL's.

    nice -n 10 .venv/bin/python benchmarks/normal_week.py --assets 20 --days 7 --json FILE
"""

from __future__ import annotations

import argparse
import bisect
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from models.registry import linked_registry
from models.serving.service import ScoringService, ServeSettings
from plant import codec
from plant.alarms.engine import AlarmEngine
from plant.config import PlantConfig, load_config
from plant.readings import ContextReading, MachineState
from plant.sim.plant import PlantSimulator
from plant.sim.publisher import TopicMap

REPO = Path(__file__).resolve().parent.parent
S = 1_000_000_000


def poisson_upper(k: int, conf: float = 0.95) -> float:
    """Exact upper confidence bound of a Poisson count (chi-square via scipy-free bisection)."""
    from math import exp, factorial

    def cdf(lam: float) -> float:
        return sum(exp(-lam) * lam**i / factorial(i) for i in range(k + 1))

    lo, hi = 0.0, 10.0 + 10 * k
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cdf(mid) > 1 - conf else (lo, mid)
    return hi


EVENT_COLUMNS = (
    "asset", "ts_ns", "kind", "value", "value2", "label", "fault_class", "trigger", "value3",
)  # fmt: skip


def _row(
    rows: dict[str, list],
    asset: str,
    ts_ns: int,
    kind: str,
    value: float,
    value2: float,
    label: str,
    fault_class: str = "",
    trigger: str = "",
    value3: float = float("nan"),
) -> None:
    """One output row: a health event (score, p-value, group, ..., the p-value without notes
    where computed) or a context reading (load, ambient, state)."""
    values = (asset, ts_ns, kind, value, value2, label, fault_class, trigger, value3)
    for k, v in zip(EVENT_COLUMNS, values, strict=True):
        rows[k].append(v)


def normal_plant(path: Path) -> PlantConfig:
    raw = load_config(path).model_dump(mode="json")
    raw["simulation"]["faults_per_asset_year"] = 0.0
    return PlantConfig.model_validate(raw)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", type=Path, default=REPO / "configs" / "benchmark.toml")
    p.add_argument("--model", type=Path, default=None)
    p.add_argument("--assets", type=int, default=200)
    p.add_argument("--days", type=float, default=7.0)
    p.add_argument("--seed", type=int, default=31)
    p.add_argument("--chunk-s", type=float, default=60.0, help="plant seconds per batch")
    p.add_argument("--json", type=Path)
    p.add_argument(
        "--events",
        type=Path,
        help="also write every health event and context reading to this Parquet file "
        "(for offline analysis of what raised)",
    )
    args = p.parse_args()
    model = args.model
    if model is None:
        best = REPO / "data" / "BEST_MODEL"
        if not best.is_file():
            p.error("no --model and no data/BEST_MODEL")
        model = Path(best.read_text().strip())
    if not (model / "manifest.json").is_file():  # a registry: its active model
        from models.registry import active_model

        active = active_model(model)
        if active is None:
            p.error(f"--model {model}: neither a model directory nor a registry with one active")
        model = Path(active)
    import jax

    jax.config.update(  # compiled once, reused by the next run
        "jax_compilation_cache_dir", str(Path(tempfile.gettempdir()) / "plantwatch-e2e-xla")
    )
    config = normal_plant(args.config)
    raw = config.model_dump(mode="json")
    total = len(config.resolved_assets)
    if args.assets < total:  # every family scaled down: the engine expects only these assets
        for fam in raw["assets"]:
            fam["count"] = max(1, round(fam["count"] * args.assets / total))
    chosen = [a.id for a in PlantConfig.model_validate(raw).resolved_assets]
    tmp = Path(tempfile.mkdtemp(prefix="normal-week-"))
    raw["alarms"]["journal_path"] = str(tmp / "alarms.sqlite")
    config = PlantConfig.model_validate(raw)
    start = 1_790_000_000 * S
    now = [start]
    engine = AlarmEngine(config, tmp / "alarms.sqlite", clock=lambda: now[0], batch=1000)
    reg = linked_registry(model, tmp)
    service = ScoringService(
        config, ServeSettings(registry=reg), client=None, engine=engine, clock=lambda: now[0]
    )
    service.poll_model(block=True)
    if service.live is None:  # no model scored: every figure below would be a silent zero
        raise SystemExit(f"model {model} did not load into the scoring service (see the log)")
    sim = PlantSimulator(config, args.seed, start, assets=frozenset(chosen), step_s=args.chunk_s)
    topic_of = TopicMap(config)
    states: dict[str, tuple[list[int], list[str]]] = {a: ([], []) for a in chosen}
    rows: dict[str, list] = {k: [] for k in EVENT_COLUMNS}
    end = start + int(args.days * 86_400 * S)
    step = int(args.chunk_s * S)
    t_wall = time.monotonic()
    messages = 0
    for t in range(start, end, step):
        batch = []
        for publish_ns, r in sim.messages(min(end, t + step)):
            batch.append((topic_of.topic(r), codec.encode(r), publish_ns))
            if isinstance(r, ContextReading):
                ts, st = states[r.header.asset]
                ts.append(r.header.ts_ns)
                st.append(r.state.value)
                if args.events:
                    _row(
                        rows,
                        r.header.asset,
                        r.header.ts_ns,
                        "context",
                        r.load_fraction,
                        r.ambient_c,
                        r.state.value,
                    )
        now[0] = min(end, t + step)
        if batch:
            events = service.process(batch)
            if args.events:
                for ev in events:
                    _row(
                        rows,
                        ev.asset,
                        ev.ts_ns,
                        "health",
                        ev.anomaly_score,
                        ev.p_value,
                        ev.calibration_group,
                        ev.fault_class,
                        ev.trigger or "",
                        float("nan") if ev.p_value_sensors is None else ev.p_value_sensors,
                    )
            messages += len(batch)
        engine.tick(now[0])
    wall = time.monotonic() - t_wall
    engine.flush()
    alarms = engine.list_alarms()
    for a, (ts, st) in states.items():  # message disorder: context in time order for bisect
        order = sorted(range(len(ts)), key=ts.__getitem__)
        states[a] = ([ts[i] for i in order], [st[i] for i in order])
    # Every raise counts, not every alarm record: nobody acknowledges here, so an alarm that
    # clears (or is suppressed by a stop) stays open and a returning condition re-raises it
    # (Alarm.activations) instead of opening a new record (plant/alarms/lifecycle.py).
    raises = {
        a["id"]: [e.ts_ns for e in engine.journal_of(a["id"]) if e.action == "raise"]
        for a in alarms
    }
    machine = [(a, t) for a in alarms if a["kind"] == "machine" for t in raises[a["id"]]]
    while_stopped = []
    for a, t in machine:
        ts, st = states[a["asset"]]
        i = bisect.bisect_right(ts, t) - 1
        if i >= 0 and st[i] != MachineState.RUNNING.value:
            while_stopped.append((a["id"], t))
    asset_days = len(chosen) * args.days
    kinds: dict[str, int] = {}  # raises (activations) by kind
    records: dict[str, int] = {}  # alarm records by kind
    for a in alarms:
        kinds[a["kind"]] = kinds.get(a["kind"], 0) + len(raises[a["id"]])
        records[a["kind"]] = records.get(a["kind"], 0) + 1
    stops = sum(
        int(np.sum(np.diff(np.array([s == "running" for s in st], np.int8)) < 0))
        for _, st in states.values()
    )
    cal = getattr(service.live.calibration, "reference", None) if service.live else None
    result = {
        "model": str(model),
        "assets": len(chosen),
        "days": args.days,
        "asset_days": asset_days,
        "messages": messages,
        "health_events": service.stats.events,
        "unscorable_windows": service.live.unscorable if service.live else None,
        "replay_wall_s": round(wall, 1),
        "speedup_vs_real_time": round(args.days * 86_400 / wall, 1),
        "machine_alarms": len(machine),
        "machine_alarm_records": records.get("machine", 0),
        "machine_alarms_per_asset_day": len(machine) / asset_days,
        "machine_alarms_per_asset_day_95_upper": poisson_upper(len(machine)) / asset_days,
        "alarms_by_kind": kinds,
        "alarm_records_by_kind": records,
        "floods": kinds.get("flood", 0),
        "machine_stops_seen": stops,
        "machine_alarms_raised_while_not_running": len(while_stopped),
        "health_events_in_load_transients": engine.transient_events,
        "low_p_events_without_sensor_corroboration": engine.uncorroborated_events,
        "calibration_reference_sizes": {k: len(v) for k, v in cal.items()} if cal else None,
    }
    if args.events:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table(rows), args.events)
        result["events_file"] = str(args.events)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
