"""The live scorer's bookkeeping (models/serving): incremental fusion with presence refresh, one
fused call per asset per round, events per window; compiled shapes that a growing plant reuses;
per-asset baselines that survive a restart and restart after maintenance; sensor-fault
findings; the health scale. An untrained tiny model (random weights, saved once per module,
two buckets) is enough: these are equalities with the full path and counts of compilations."""

from __future__ import annotations

import base64
import dataclasses
import json
import tomllib
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from flax import nnx

from models.checkpoint import save_model
from models.config import ModelConfig
from models.model import FusionModel
from models.scoring import cache_capacity
from models.serving.compiles import CompileCounter
from models.serving.health import group_of, health_from_p
from models.serving.live import LiveScorer, rounds
from models.serving.quality import QualityWatch
from models.serving.service import ScoringService, ServeSettings
from models.serving.state import BaselineFile, input_key
from plant.config import PlantConfig
from plant.readings import Header, Modality, Quality, ThermalReading, VibrationSnapshot
from tests.test_model_shapes import make_window
from tests.test_train_cli import TINY_PLANT

S = 1_000_000_000
# TINY_MODEL's shapes (tests/test_train_cli.py); baselines freeze after 15 plant minutes
TINY = ModelConfig.model_validate(
    {
        "inputs": {"vibration_samples": 1024, "order_bins": 32, "note_tokens": 16,
                   "image_size": 16, "thermal_points": 8, "baseline_hours": 0.25,
                   "baseline_spacing_s": 60, "baseline_min_windows": 3,
                   "baseline_settle_s": 600},
        "arch": {"width": 8, "heads": 2},
        "buckets": (2,),  # one compiled batch size: compiling dominates these tests
    }
)  # fmt: skip
PLANT = PlantConfig.model_validate(tomllib.loads(TINY_PLANT))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One saved model for the module; the jitted steps compile once for all its tests."""
    import jax

    from models.validation import FAST_COMPILE

    def build(key: jax.Array) -> nnx.State:  # one cheaply compiled initialiser, not one each
        return nnx.split(FusionModel(TINY, nnx.Rngs(params=key)))[1]

    graphdef, _ = nnx.split(nnx.eval_shape(lambda: FusionModel(TINY, nnx.Rngs(params=0))))
    params = jax.jit(build, compiler_options=FAST_COMPILE)(jax.random.key(1))
    reg = tmp_path_factory.mktemp("serving") / "reg"
    save_model(nnx.merge(graphdef, params), TINY, reg / "v0001")
    (reg / "ACTIVE").write_text("v0001\n")
    return reg / "v0001"


@pytest.fixture
def live(model_dir: Path) -> LiveScorer:
    return LiveScorer(model_dir, PLANT.resolved_assets, warm=False)


def test_a_stale_modality_is_reencoded_as_absent_and_events_say_so(live: LiveScorer) -> None:
    rng = np.random.default_rng(0)
    wins = [make_window(rng, asset=f"PA-00{i}") for i in (1, 2)]
    live.prime(wins)
    # PA-001's vibration went stale; a thermal reading rescoring it must not read old tokens
    stale = dataclasses.replace(wins[0], vibration=None, trigger=Modality.THERMAL)
    [ev] = live.score([stale])
    full, _ = live.scorer.score([stale])
    assert ev.present == {"vibration": False, "thermal": True, "camera": True, "notes": True}
    assert "vibration" not in ev.staleness_s
    np.testing.assert_allclose(ev.anomaly_score, full[0], rtol=1e-5, atol=1e-5)
    # and back: a vibration reading re-encodes it, present again
    back = dataclasses.replace(wins[0], trigger=Modality.VIBRATION)
    [ev2] = live.score([back])
    full2, _ = live.scorer.score([back])
    assert ev2.present["vibration"]
    np.testing.assert_allclose(ev2.anomaly_score, full2[0], rtol=1e-5, atol=1e-5)


def test_two_windows_of_one_asset_in_a_batch_are_scored_in_turn(live: LiveScorer) -> None:
    rng = np.random.default_rng(1)
    a1, b1 = make_window(rng, asset="PA-001"), make_window(rng, asset="PA-002")
    a2 = dataclasses.replace(make_window(rng, fault=True, asset="PA-001"), ts_ns=a1.ts_ns + 1)
    wins = [dataclasses.replace(w, trigger=None) for w in (a1, b1, a2)]
    events = live.score(wins)
    assert [(e.asset, e.ts_ns) for e in events] == [(w.asset, w.ts_ns) for w in wins]
    full, _ = live.scorer.score(wins)  # untriggered windows re-encode every modality
    np.testing.assert_allclose([e.anomaly_score for e in events], full, rtol=1e-5, atol=1e-5)
    assert [len(r) for r in rounds(list(enumerate(wins)))] == [2, 1]


def test_unknown_assets_get_no_event(live: LiveScorer) -> None:
    w = make_window(np.random.default_rng(2), asset="NOT-IN-PLANT")
    assert live.score([w]) == []


def test_cache_capacity_is_a_power_of_two_step() -> None:
    assert [cache_capacity(n) for n in (1, 64, 65, 201, 1001, 2001, 5001, 8193)] == [
        64, 64, 128, 256, 1024, 2048, 8192, 16384,
    ]  # fmt: skip


def test_new_assets_compile_only_when_the_cache_crosses_a_power_of_two(model_dir: Path) -> None:
    """Warm, then 57 new assets within the 64-slot cache compile nothing, scored in batches
    below, at and above the bucket; the 64th asset doubles the cache and add_assets compiles
    the incremental path once per bucket and modality, before any window; their windows
    compile nothing."""
    grown = PLANT.multiplied(11).resolved_assets  # 66 assets
    live = LiveScorer(model_dir, grown[:6], warm=False)
    live.scorer.warm(full_rows=None)  # the incremental path (LiveScorer's warm also explains)
    live.score([make_window(np.random.default_rng(4), asset=grown[0].id)])  # + raw_spectra
    assert live.scorer.capacity == 64
    rng = np.random.default_rng(3)
    triggers = [None, *Modality]

    def windows(assets: list) -> list:
        mods = [t for t in triggers if t is None or t.value != "context"]
        return [dataclasses.replace(make_window(rng, asset=a.id), trigger=mods[i % len(mods)])
                for i, a in enumerate(assets)]  # fmt: skip

    with CompileCounter() as counter:
        assert not live.add_assets(grown[6:63], warm=True)  # 63 assets + scratch slot: 64
        for k in (1, 2, 5):  # below, at and above the one bucket
            assert len(live.score(windows(grown[6 : 6 + k]))) == k
        assert counter.snapshot() == {}, "a new asset within the capacity compiled"
        assert live.add_assets(grown[63:], warm=True)
        assert live.scorer.capacity == 128
        grew = counter.snapshot()
        assert grew.get("jit(incremental_step)") == len(TINY.buckets) * 4
        assert not {"jit(score_step)", "jit(raw_spectra)"} & set(grew), grew
        before = counter.snapshot()
        assert len(live.score(windows(grown[60:]))) == 6  # 3 old, 3 new assets
        assert counter.snapshot() == before, "scoring after the growth step compiled"


def _service(reg: Path, state: Path) -> ScoringService:
    settings = ServeSettings(registry=reg, state_dir=state, warm=False)
    service = ScoringService(PLANT, settings, client=None, engine=None)
    service.poll_model(block=True)
    return service


def _feed(service: ScoringService, start_ns: int, end_ns: int) -> int:
    from plant import codec
    from plant.sim.plant import PlantSimulator
    from plant.sim.publisher import TopicMap

    sim, topic_of = PlantSimulator(PLANT, 7, start_ns, step_s=60), TopicMap(PLANT)
    n = 0
    for t in range(start_ns, end_ns, 300 * S):
        msgs = [(topic_of.topic(r), codec.encode(r), ts) for ts, r in sim.messages(t + 300 * S)]
        n += len(service.process(msgs))
    return n


def _rows(service: ScoringService) -> tuple:
    assert service.live is not None
    return service.live.baselines.rows(sorted(a.id for a in PLANT.resolved_assets))


def test_baselines_survive_a_restart_and_maintenance_restarts_one(
    model_dir: Path, tmp_path: Path
) -> None:
    """40 plant minutes through serve's path freeze some baselines and leave others open (late
    or stopped machines, slow cameras); a restarted service has the same baselines (arrays
    equal, open ones included); a maintenance end through the alarm API starts one asset's
    again, and that survives the next restart; a reload of a model with the same input config
    keeps them in memory; a model of another input config invalidates the file; a damaged file
    is ignored."""
    import shutil

    from plant.alarms.service import AlarmService

    reg, state, start = tmp_path / "reg", tmp_path / "serve", 1_790_000_000 * S
    shutil.copytree(model_dir.parent, reg)
    first = _service(reg, state)
    assert _feed(first, start, start + 2400 * S) > 100
    before, ids = _rows(first), sorted(a.id for a in PLANT.resolved_assets)
    assert before.base_ready.all(axis=1).sum() >= 2  # assets with every baseline frozen
    assert first.live is not None
    still_open = [(a, m) for a, accs in first.live.baselines._acc.items()
                  for m, acc in enumerate(accs) if acc.n and not acc.frozen]  # fmt: skip
    assert still_open  # baselines still accumulating
    first.close()
    saved = BaselineFile(state).path(TINY.inputs)
    assert saved.is_file() and saved.name == f"baselines-{input_key(TINY.inputs)}.npz"

    second = _service(reg, state)
    for a, b in zip(before, _rows(second), strict=True):
        np.testing.assert_array_equal(a, b)
    assert second.live is not None  # the open baselines came too, still open
    for a, m in still_open:
        was, now = first.live.baselines._acc[a][m], second.live.baselines._acc[a][m]
        assert (now.n, now.first_ns, now.frozen) == (was.n, was.first_ns, False)
    target = ids[int(np.flatnonzero(before.base_ready.all(axis=1))[0])]

    plant = PLANT.model_copy(
        update={"alarms": PLANT.alarms.model_copy(update={
            "journal_path": str(tmp_path / "alarms.sqlite"),
            "users_path": str(tmp_path / "users.sqlite"),
            "api": PLANT.alarms.api.model_copy(update={"port": 0})})}
    )  # fmt: skip
    alarms = AlarmService(
        plant, mqtt_client=None, env={"PLANTWATCH_ADMIN_PASSWORD": "admin pw 12345"}
    )
    alarms.engine.baseline_listeners.append(second.reset_baseline)
    alarms.start()
    try:
        assert alarms.server is not None
        for step in ("start", "end"):
            _post(f"{alarms.server.url}/api/v1/assets/{target}/maintenance/{step}")
    finally:
        alarms.stop()
    second.maintain()  # the worker applies the reset and saves at once
    second.close()
    after, i = _rows(second), ids.index(target)
    assert not after.base_ready[i].any() and target not in second.live.baselines.assets()
    others = [j for j in range(len(ids)) if j != i]
    for a, b in zip(before, after, strict=True):
        np.testing.assert_array_equal(a[others], b[others])

    third = _service(reg, state)
    for a, b in zip(after, _rows(third), strict=True):
        np.testing.assert_array_equal(a, b)
    assert third.live is not None
    kept = third.live.baselines
    shutil.copytree(reg / "v0001", reg / "v0002")  # a new model version, same input config
    (reg / "ACTIVE").write_text("v0002\n")
    third.poll_model(block=True)
    assert third.stats.reloads == 1 and third.live.baselines is kept  # carried over in memory
    third.close()
    other = TINY.inputs.model_copy(update={"image_size": 32})
    assert BaselineFile(state).load(other) is None and not saved.exists()
    saved.write_bytes(b"PK\x03\x04 truncated")  # a damaged file: new baselines, no crash
    assert BaselineFile(state).load(TINY.inputs) is None


def _post(url: str) -> dict:
    req = urllib.request.Request(url, data=b'{"comment": "bearing replaced"}', method="POST")
    req.add_header("Content-Type", "application/json")
    req.add_header("Authorization", "Basic " + base64.b64encode(b"admin:admin pw 12345").decode())
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def test_quality_watch_raises_and_clears_stuck_and_dead() -> None:
    q = QualityWatch(stuck_repeats=3)
    rng = np.random.default_rng(0)

    def vib(i: int, samples: np.ndarray) -> VibrationSnapshot:
        return VibrationSnapshot(Header("PA-001", "vib", i, 1, i), 12800.0, ("x", "y"), samples)

    ok = rng.normal(size=(2, 256)).astype(np.float32)
    flat = ok.copy()
    flat[1] = 0.0
    assert q.check(vib(1, ok)) == []
    assert q.check(vib(2, flat)) == [("PA-001", "vib", "stuck", 2, True)]
    assert q.check(vib(3, flat)) == []  # raised once
    assert q.check(vib(4, ok)) == [("PA-001", "vib", "stuck", 4, False)]
    for i in range(3):
        found = q.check(ThermalReading(Header("PA-001", "t", i, 1, i), {"a": 40.0, "b": 41.0 + i}))
    assert found == [("PA-001", "t", "stuck", 2, True)]
    bad = ThermalReading(Header("PA-001", "t", 9, 1, 9, Quality.BAD), {"a": 40.5, "b": 50.0})
    assert ("PA-001", "t", "dead", 9, True) in q.check(bad)


def test_health_scale() -> None:
    np.testing.assert_allclose(health_from_p(np.array([1.0, 0.1, 0.01, 1e-4, 1e-9])),
                               [100, 75, 50, 0, 0])  # fmt: skip


def test_packed_model_and_lean_chunks_score_as_the_plain_path(live: LiveScorer) -> None:
    """Serve's hot path passes the model as a once-hashed ``Packed`` + leaf list and, for
    modalities other than vibration, cached zeros for the raw samples: same scores."""
    import jax

    from models.batch import Batch, pad_batch
    from models.scoring import Packed, score_step

    sc = live.scorer
    wins = [make_window(np.random.default_rng(9), asset="PA-001")]
    b = sc.batch(wins)
    chunk = pad_batch(b, 2)
    plain, _ = score_step(sc.graphdef, sc.state, chunk, chunk.present, sc.cfg)
    packed, leaves = sc.model_args()
    fast, _ = score_step(packed, leaves, chunk, chunk.present, sc.cfg)
    np.testing.assert_array_equal(np.asarray(plain), np.asarray(fast))
    assert sc.model_args()[0] is packed  # built once per graphdef/state
    again = Packed(sc.graphdef, jax.tree.structure(sc.state))
    assert again == packed and hash(again) == hash(packed)
    lean = sc._chunk(b, np.array([0]), 2, 1)  # thermal: the samples are not read
    for name, got, want in zip(Batch._fields, lean, chunk, strict=True):
        if name != "vibration":
            np.testing.assert_array_equal(got, want, err_msg=name)
    assert lean.vibration.shape == chunk.vibration.shape and not np.asarray(lean.vibration).any()
    full = sc._chunk(b, np.array([0]), 2, 0)  # vibration: every field as pad_batch has it
    for name, got, want in zip(Batch._fields, full, chunk, strict=True):
        np.testing.assert_array_equal(got, want, err_msg=name)


def _events(asset: str, n: int, t0: int) -> list:
    from plant.events import HealthEvent

    return [
        HealthEvent(asset, t0 + k * S, 90.0, 0.1, 0.5, "normal", 0.9, {"thermal": True},
                    {"thermal": 1.0}, "m1", scored_ns=t0 + k * S)
        for k in range(n)
    ]  # fmt: skip


def test_scores_reach_the_store_from_the_writer_thread_and_a_failed_write_is_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ingest.store import StoreReader
    from models.serving import service as service_mod

    real, calls = service_mod._write_scores, []

    def fail_first(root: Path, events: list) -> list:
        calls.append(len(events))
        return list(events) if len(calls) == 1 else real(root, events)

    monkeypatch.setattr(service_mod, "_write_scores", fail_first)
    settings = ServeSettings(registry=tmp_path / "reg", store_flush_s=0.0, warm=False)
    service = ScoringService(PLANT, settings, client=None, store_root=tmp_path / "store")
    first, second = _events("A-1", 3, 10 * S), _events("A-2", 2, 20 * S)
    service._hand_on(first)
    service.maintain()  # the write fails: the scores stay pending
    service._flush_future.result()
    service._hand_on(second)
    service.close()  # the failed ones first, then the rest, waited for
    assert calls == [3, 5]
    reader = StoreReader(tmp_path / "store")
    assert reader.scores().num_rows == 5
    assert reader.health_events("A-1", 0, 100 * S) == first


def test_scores_do_not_depend_on_how_windows_were_batched(model_dir: Path, tmp_path: Path) -> None:
    """The same readings scored one window at a time and in batches of 48 give the same events,
    across the baselines freezing (15 plant minutes) inside a batch: each window reads the
    baselines as they were when it was observed (as training featurises), and a modality's
    cached encoding is refreshed when its baseline freezes. Serve's batches follow arrival
    timing, so anything else makes live scores depend on the machine's load. The module's
    model has every weight jittered (an initialised model reads its baseline channels through
    zero-initialised layers, so it would not tell)."""
    import jax

    from ingest.assembly import WindowAssembler
    from models.checkpoint import load_model
    from plant.sim.plant import PlantSimulator

    model, cfg, _ = load_model(model_dir)
    graphdef, state = nnx.split(model)
    leaves, tree = jax.tree.flatten(state)
    rng = np.random.default_rng(3)
    jittered = [
        x + 0.3 * rng.standard_normal(x.shape).astype(x.dtype)
        if np.issubdtype(x.dtype, np.floating)
        else x
        for x in map(np.asarray, leaves)
    ]
    model_dir = tmp_path / "reg" / "v0001"
    save_model(nnx.merge(graphdef, jax.tree.unflatten(tree, jittered)), cfg, model_dir)

    start = 1_790_000_000 * S
    asm, windows = WindowAssembler(PLANT), []
    for r in PlantSimulator(PLANT, 7, start, step_s=60).readings(start + 2400 * S):
        if (w := asm.add(r)) is not None:
            windows.append(w)
    assert len(windows) > 100

    def scores(batch: int) -> tuple[dict, LiveScorer]:
        live = LiveScorer(model_dir, PLANT.resolved_assets, warm=False)
        out = {}
        for k in range(0, len(windows), batch):
            for ev in live.score(windows[k : k + batch]):
                out[(ev.asset, ev.ts_ns, ev.trigger)] = ev.anomaly_score
        return out, live

    one, live = scores(1)
    batched, _ = scores(48)
    froze = [a for a in live.baselines.assets() if live.baselines.ready(a).any()]
    assert len(froze) >= 2  # the run crossed baseline freezes
    assert one.keys() == batched.keys() and len(one) > 100
    worst = max(abs(one[k] - batched[k]) for k in one)
    assert worst < 1e-4, f"scores differ by {worst:.4f} between batchings"


def test_events_carry_the_load_range_of_the_windows_thermal_history(live: LiveScorer) -> None:
    from models.serving.health import load_range

    rng = np.random.default_rng(4)
    w = make_window(rng, asset="PA-001")
    assert w.thermal is not None
    load = np.linspace(0.8, 0.45, len(w.thermal.ts_ns)).astype(np.float32)
    load[0] = np.nan  # before any process context
    stepped = dataclasses.replace(w, thermal=dataclasses.replace(w.thermal, load_fraction=load))
    no_thermal = dataclasses.replace(make_window(rng, asset="PA-002"), thermal=None)
    by_asset = {ev.asset: ev for ev in live.score([stepped, no_thermal])}
    assert by_asset["PA-001"].load_range == pytest.approx(float(load[1] - load[-1]), abs=1e-3)
    assert by_asset["PA-002"].load_range is None
    assert load_range(np.array([np.nan])) is None and load_range(None) is None
    assert json.loads(by_asset["PA-001"].to_json())["load_range"] == by_asset["PA-001"].load_range


class _GroupP:
    """Calibration stand-in (unit test): a p-value from the score, shifted per group so that a
    wrong group shows; records the groups asked for."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def p_values(self, scores: np.ndarray, groups) -> np.ndarray:
        self.asked += list(groups)
        shift = np.array([0.0 if g.split("|")[1].endswith("N") else 0.5 for g in groups])
        return 1.0 / (1.0 + np.exp(np.asarray(scores, np.float64) + shift))


def test_events_with_notes_carry_the_p_value_with_the_notes_left_out(model_dir: Path) -> None:
    """The alarm engine's notes rule reads what the sensors say alone: the same window fused
    without its notes (from the cache, nothing re-encoded) against the calibration group of
    what is left; only where notes are present and the p-value is below ``sensors_below``."""
    rng = np.random.default_rng(5)
    live = LiveScorer(model_dir, PLANT.resolved_assets, warm=False, sensors_below=1.0)
    live.calibration = cal = _GroupP()
    noted = make_window(rng, asset="PA-001")
    silent = dataclasses.replace(make_window(rng, asset="PA-002"), notes=())
    assert noted.notes and noted.mask[3] and not silent.mask[3]
    by_asset = {ev.asset: ev for ev in live.score([noted, silent])}
    ev = by_asset["PA-001"]
    assert by_asset["PA-002"].p_value_sensors is None  # no notes: nothing to leave out
    without = dataclasses.replace(noted, notes=())
    score, _ = live.scorer.score([without])  # the full path, every modality encoded afresh
    # the group of what is left after the notes, in the regime of the asset's baselines (not
    # frozen yet: a fresh scorer)
    group = group_of("motor-pump", [True, True, True, False], ready=False)
    want = cal.p_values(score, [group])[0]
    assert ev.p_value_sensors == pytest.approx(want, rel=1e-4)
    assert cal.asked[-2] == group == "motor-pump|VTC-|nobase"
    assert json.loads(ev.to_json())["p_value_sensors"] == ev.p_value_sensors
    strict = LiveScorer(model_dir, PLANT.resolved_assets, warm=False, sensors_below=1e-12)
    strict.calibration = _GroupP()
    [ev2] = strict.score([noted])
    assert ev2.p_value_sensors is None  # not low enough for the engine to read it
