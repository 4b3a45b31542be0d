"""A plant with an injected bearing fault, served for the dashboard tests by real components.

Readings come from the real simulator (``plant.sim``) and are written by the real StoreWriter;
the ingest figures by the real IngestMetrics; alarms by the real AlarmEngine behind the real alarm
API (in a thread); users by plant/users.py. The one stand-in is the scorer: health events are
derived here from the injected fault's ground-truth severity (a trained model is another
engineer's part and minutes of CPU), so the alarm they raise is the injected fault's; their
explanations (contract #2) come from an Explainer-shaped stand-in over the real windows
(tests/dashboard_explainer.py). One operator note holding a name and a phone number goes through
ingest's real write path (BatchWriter: validate, redact, WAL), as a published note would.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from pathlib import Path

import numpy as np
from werkzeug.serving import make_server

from ingest.assembly import windows_at
from ingest.batch import BatchWriter
from ingest.consumer import Message
from ingest.metrics import IngestMetrics, write_snapshot
from ingest.store.reader import StoreReader
from ingest.store.writer import ScoreWriter, StoreWriter, write_labels
from plant import codec
from plant.alarms.api.app import create_app
from plant.alarms.engine import AlarmEngine
from plant.config import load_config
from plant.events import HealthEvent, shapley_values
from plant.labels import FaultClass, FaultEpisode, severity_at
from plant.readings import MODEL_MODALITIES, Header, Modality, OperatorNote
from plant.sim.asset import AssetSimulator
from plant.sim.episodes import FaultScheduler
from plant.topics import reading_topic
from plant.users import Role, UserStore
from tests.dashboard_explainer import GroundTruthExplainer

REPO = Path(__file__).resolve().parent.parent
NS = 1_000_000_000
HOUR_NS = 3600 * NS
SCORE_EVERY_NS = 600 * NS
HISTORY_NS = 4 * HOUR_NS
BEARING_FAULTS = (FaultClass.BEARING_OUTER, FaultClass.BEARING_INNER)
OPERATOR = ("op.anna", "pump-house-2026")  # test credentials, never real ones
# personal data planted in a note: ingest must redact it before it is stored
PERSONAL_NOTE = "Spoke to John Smith on 0412 345 678 about DE brg noisy, grinding, smell of hot oil"
PERSONAL_BITS = ("John", "Smith", "0412 345 678")


def plant_toml(tmp: Path) -> Path:
    """The demo plant with vibration at the DESIGN §7 rate (one snapshot per 10 min)."""
    text = (REPO / "configs" / "plant.toml").read_text()
    text = text.replace("snapshot_s = 1.0, period_s = 60", "snapshot_s = 1.0, period_s = 600")
    text = text.replace(
        'modality = "notes", period_s = 14400', 'modality = "notes", period_s = 1800'
    )
    text += (
        f'\n[alarms]\njournal_path = "{tmp / "alarms.sqlite"}"\n'
        f'users_path = "{tmp / "users.sqlite"}"\n'
    )
    path = tmp / "plant.toml"
    path.write_text(text)
    return path


def find_bearing_fault(config, seed_range=range(200)) -> tuple[int, str, FaultEpisode]:
    """The first seed whose schedule has a bearing race fault within 20 days of start 0."""
    for seed in seed_range:
        for asset in config.resolved_assets:
            sched = FaultScheduler(asset, config.simulation, seed, 0)
            sched.extend(20 * 24 * HOUR_NS)
            for e in sched.episodes:
                if e.fault in BEARING_FAULTS and e.onset_ns > 0:
                    return seed, asset.id, e
    raise AssertionError("no bearing fault in 200 seeds: the fault table changed?")


@dataclasses.dataclass
class Scenario:
    tmp: Path
    config_path: Path
    store: Path
    asset: str
    fault: FaultClass
    alarm_id: int
    now_ns: int
    api_url: str
    engine: AlarmEngine
    users: UserStore
    _server: object
    explain: object = None  # serve's on-request explanation: asset -> document

    def stop(self) -> None:
        self._server.shutdown()
        self.engine.close()
        self.users.close()


def _simulate(config, seed: int, start_ns: int, t0: int, t1: int, store: Path) -> list:
    metrics = IngestMetrics("test")
    episodes = []
    with StoreWriter(store) as writer:
        for asset in config.resolved_assets:
            sim = AssetSimulator(asset, config, seed, start_ns)
            msgs = []
            t = t0
            while t < t1:  # the simulator steps within whole simulation hours
                nxt = min(t1, start_ns + ((t - start_ns) // HOUR_NS + 1) * HOUR_NS)
                msgs += sim.chunk(t, nxt)
                t = nxt
            readings = [r for _, r in msgs]
            writer.write(readings)
            hdr = [
                (r.header.asset, r.header.sensor, r.header.epoch, r.header.seq, r.header.ts_ns, p)
                for p, r in msgs
            ]
            metrics.on_stored(hdr, 0, 0, 40_000_000)
            episodes += sim.faults.episodes
    metrics.on_dead_letter("bad_payload")
    (store / "_ingest").mkdir(exist_ok=True)
    write_snapshot(metrics.snapshot(), store / "_ingest" / "metrics-test.json")
    write_labels(store, episodes)
    return episodes


def _ingest_note(config, store: Path, asset_id: str, ts_ns: int, text: str) -> None:
    """One note published by hand, through ingest's durable path (validation, redaction, WAL)."""
    asset = config.asset(asset_id)
    sensor = next(s for s in asset.sensors if s.modality is Modality.NOTES)
    note = OperatorNote(Header(asset_id, sensor.id, ts_ns, 777, 1), text, author="John Smith")
    topic = reading_topic(config.plant.site, asset.area, asset_id, sensor.id, Modality.NOTES)
    writer = BatchWriter(config, store, "note-test")
    try:
        writer.write([Message(topic, codec.encode(note), ts_ns + NS, 1, 1, 0)])
    finally:
        writer.close()


def _explanations(config, store: Path, episodes, events: list[HealthEvent]) -> dict:
    """(asset, ts) -> contract #2 document, for every event past a fault's onset."""
    explainer = GroundTruthExplainer(episodes)
    reader = StoreReader(store)
    out = {}
    for asset in config.resolved_assets:
        times = [e.ts_ns for e in events if e.asset == asset.id and e.fault_class != "normal"]
        if not times:
            continue
        for w in windows_at(config, reader, asset.id, times):
            if w is None:
                continue
            shaft = w.context.shaft_speed_hz if w.context is not None else None
            out[(asset.id, w.ts_ns)] = explainer.explain(
                w, asset_type=w.asset_type, bearing=asset.config.bearing, shaft_hz=shaft
            )
    return out


def _on_request_explainer(config, store: Path, episodes, now_ns: int):
    """What ``plantwatch serve`` hands its API for GET /assets/{asset}/explanation: the asset's
    latest window explained now (here by the stand-in, at the scenario's "now")."""
    explainer = GroundTruthExplainer(episodes)

    def explain(asset_id: str) -> dict | None:
        asset = config.asset(asset_id)
        (w,) = windows_at(config, StoreReader(store), asset_id, [now_ns])
        if w is None:
            return None
        shaft = w.context.shaft_speed_hz if w.context is not None else None
        doc = explainer.explain(
            w, asset_type=w.asset_type, bearing=asset.config.bearing, shaft_hz=shaft
        )
        present = {m.value: p for m, p in w.present.items()}
        return {"asset": asset_id, "ts_ns": w.ts_ns, "model_version": "test",
                "present": present, "explanation": doc}  # fmt: skip

    return explain


def _health_events(config, episodes, t0: int, t1: int) -> list[HealthEvent]:
    """Ground truth standing in for the scorer: health 100*(1-severity), p-value from severity."""
    out = []
    times = np.arange(t0 + SCORE_EVERY_NS, t1 + 1, SCORE_EVERY_NS, dtype=np.int64)
    for asset in config.resolved_assets:
        sev = severity_at(episodes, asset.id, times)
        mods = {s.modality.value for s in asset.sensors}
        present = {m.value: m.value in mods for m in MODEL_MODALITIES}
        for ts, s in zip(times.tolist(), sev.tolist(), strict=True):
            ep = next(
                (e for e in episodes if e.asset == asset.id and e.onset_ns < ts < e.repair_ns), None
            )
            fault = ep.fault.value if ep and s > 0.02 else "normal"
            out.append(
                HealthEvent(
                    asset=asset.id,
                    ts_ns=ts,
                    health=round(100 * (1 - s), 1),
                    anomaly_score=s,
                    p_value=0.3 if s < 0.02 else 1e-4,
                    fault_class=fault,
                    fault_probability=0.9 if fault != "normal" else 0.0,
                    present=present,
                    staleness_s={m: 30.0 for m, p in present.items() if p},
                    model_version="test",
                )
            )
    return out


def build(tmp: Path) -> Scenario:
    config_path = plant_toml(tmp)
    config = load_config(config_path)
    seed, asset_id, ep = find_bearing_fault(config)
    now = time.time_ns()
    # shift the schedule so that "now" is 80 % of the way from onset to failure
    start_ns = now - (ep.onset_ns + int(0.8 * (ep.failure_ns - ep.onset_ns)))
    store = tmp / "store"
    episodes = _simulate(config, seed, start_ns, now - HISTORY_NS, now, store)
    _ingest_note(config, store, asset_id, now - 90 * 60 * NS, PERSONAL_NOTE)  # before the alarm
    events = _health_events(config, episodes, now - HISTORY_NS, now)
    expl = _explanations(config, store, episodes, events)
    events = [dataclasses.replace(e, explanation=expl.get((e.asset, e.ts_ns))) for e in events]
    with ScoreWriter(store) as sw:  # the scores partition keeps {modality: Shapley} only
        sw.write(
            [dataclasses.replace(e, explanation=shapley_values(e.explanation)) for e in events]
        )
    build_registry(config, store, tmp / "registry", events)
    engine = AlarmEngine(config, config.alarms.journal_path)
    for ev in sorted(events, key=lambda e: e.ts_ns):
        engine.on_health(ev)
    alarms = engine.list_alarms(asset=asset_id, kind="machine")
    assert alarms, f"the injected {ep.fault} on {asset_id} raised no alarm"
    users = UserStore(config.alarms.users_path)
    users.create_user(*OPERATOR, Role.OPERATOR)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access line per API call
    explain = _on_request_explainer(config, store, episodes, now)
    server = make_server("127.0.0.1", 0, create_app(engine, users, explain=explain), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return Scenario(
        tmp,
        config_path,
        store,
        asset_id,
        ep.fault,
        int(alarms[0]["id"]),
        now,
        f"http://127.0.0.1:{server.server_port}",
        engine,
        users,
        server,
        explain,
    )


# A model directory for the model page (DESIGN.md section 3): real weights format, registry and
# calibration; the figures of evaluation.json are fixture values (EV's `plantwatch evaluate`
# writes the real ones), chosen so the page has one target met and one missed to show.
EVALUATION = {
    "auroc": {"fused": 0.993, "vibration": 0.97, "thermal": 0.81, "camera": 0.74, "notes": 0.66,
              "late_fusion": 0.985, "early_fusion": 0.979, "classical": 0.93},
    "auroc_missing": {"vibration": 0.90, "thermal": 0.991, "camera": 0.990, "notes": 0.992,
                      "random30": 0.984},
    "false_alarms_per_asset_day": 0.006,
    "recall_before_failure": 0.97,
    "lead_time_median_fraction": 0.58,
    "realised_alpha": {
        "0.01": {"value": 0.0112, "alarms": 56, "windows": 5000, "ci95": [0.0085, 0.0145]},
        "0.001": {"value": 0.0022, "alarms": 11, "windows": 5000, "ci95": [0.0011, 0.0039]},
    },
    "shapley_top_modality_accuracy": 0.93,
    "bearing_defect_frequency_hit_rate": 0.84,
    "counts": {"windows": 5000, "assets": 40, "asset_days": 280, "faults": 31},
}  # fmt: skip


def _thermal_model(config, store: Path, t0: int, t1: int) -> tuple[np.ndarray, np.ndarray]:
    """Least squares of each probe on (1, load, ambient, speed/100, running, load^2) per asset
    type over the first period: the normal-behaviour model the dashboard draws."""
    from dashboard.data.evidence import thermal_evidence
    from dashboard.data.store import StoreView
    from models.batch import ASSET_TYPES
    from models.features import N_THERMAL_FEATURES

    view = StoreView(store)
    xs: dict[int, list] = {}
    for asset in config.resolved_assets:
        th = thermal_evidence(view, asset, t1, (t1 - t0) / NS)
        if th is not None:
            xs.setdefault(ASSET_TYPES.index(asset.type), []).append(th)
    return xs, N_THERMAL_FEATURES


# The scenario's model: small, and per-asset baselines over each asset's first plant hour (after
# the first hour's thermal look-back), so the asset page can add the asset's thermal offset.
MODEL_CONFIG = {
    "inputs": {
        "order_bins": 16, "note_vocab": 256, "image_size": 16,
        "baseline_hours": 1.0, "baseline_spacing_s": 600, "baseline_min_windows": 4,
        "baseline_settle_s": 1800,
    },
    "arch": {"width": 8},
}  # fmt: skip


def build_registry(config, store: Path, registry: Path, events: list[HealthEvent]) -> Path:
    import json

    import jax
    from flax import nnx

    from ingest.assembly import iter_windows
    from ingest.store.reader import StoreReader
    from models import registry as reg
    from models.batch import ASSET_TYPES
    from models.calibration import Calibration, calibration_group
    from models.checkpoint import save_model
    from models.config import ModelConfig
    from models.dataset import build_dataset
    from models.drift import save_reference
    from models.features import identity_stats
    from models.model import FusionModel

    t0 = min(e.ts_ns for e in events) - SCORE_EVERY_NS
    t_ref = t0 + 2 * HOUR_NS
    cfg = ModelConfig.model_validate(MODEL_CONFIG)
    stats = identity_stats(cfg.inputs, len(ASSET_TYPES))
    coef, sigma = stats.th_coef.copy(), stats.th_sigma.copy()
    per_type, n_feat = _thermal_model(config, store, t0, t_ref)
    for k, series in per_type.items():
        for j in range(coef.shape[1]):
            rows = [(th.context, th.temperature_c[:, j]) for th in series
                    if j < th.temperature_c.shape[1]]  # fmt: skip
            if not rows:
                continue
            ctx = np.concatenate([r[0] for r in rows]).astype(np.float64)
            y = np.concatenate([r[1] for r in rows]).astype(np.float64)
            ok = np.isfinite(ctx).all(axis=1) & np.isfinite(y)
            load, amb, speed, run = (ctx[ok, i] for i in range(4))
            x = np.stack([np.ones_like(load), load, amb, speed / 100, run, load**2], -1)
            beta = np.linalg.solve(x.T @ x + 1e-3 * len(y) * np.eye(n_feat), x.T @ y[ok])
            coef[k, j], sigma[k, j] = beta, max(float(np.std(y[ok] - x @ beta)), 0.05)
    # zero weights from the model's abstract shape (eager init compiles op by op: ~45 s here)
    graphdef, state = nnx.split(nnx.eval_shape(lambda: FusionModel(cfg, nnx.Rngs(0))))
    model = nnx.merge(graphdef, jax.tree.map(lambda x: np.zeros(x.shape, x.dtype), state))
    model.set_stats(stats._replace(th_coef=coef, th_sigma=sigma))
    version = reg.new_version_dir(registry)
    save_model(model, cfg, version)
    assets = [a.id for a in config.resolved_assets]
    split = {"train_assets": assets, "val_assets": [], "test_assets": [], "cut_ns": t_ref}
    (version / "metrics.json").write_text(json.dumps({"split": split, "windows": {"test": 5000}}))
    (version / "evaluation.json").write_text(json.dumps(EVALUATION))
    normal = [e for e in events if e.fault_class == "normal"]
    types = {a.id: a.type for a in config.resolved_assets}
    Calibration.fit(
        np.array([e.anomaly_score for e in normal]),
        [calibration_group(types[e.asset], [True] * 4) for e in normal],
        min_count=20,
    ).save(version)
    # the drift reference as `plantwatch train` writes it: features of the first two hours'
    # windows (assembled and featurised as training does) and the normal windows' scores
    times = np.arange(t0 + HOUR_NS, t_ref + 1, SCORE_EVERY_NS, dtype=np.int64)
    windows = [w for w in iter_windows(config, StoreReader(store), assets, times) if w is not None]
    normal_scores = np.array([e.anomaly_score for e in normal])
    save_reference(version, build_dataset(windows, [], cfg).features, normal_scores)
    reg.promote(registry, version.name)
    return version
