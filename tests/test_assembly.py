"""Window assembly: staleness, late and duplicate readings, clock skew, the notes rule, masks,
thermal resampling, and the same windows live, offline and after a restart."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from ingest.alignment import SensorClock
from ingest.assembly import WindowAssembler, windows_at
from ingest.store import StoreReader, StoreWriter, WriteAheadLog
from ingest.window import Window
from plant.codec import encode
from plant.config import PlantConfig, load_config
from plant.readings import (
    CameraImage,
    ContextReading,
    Header,
    MachineState,
    Modality,
    OperatorNote,
    ThermalReading,
    VibrationSnapshot,
)
from plant.topics import reading_topic

REPO = Path(__file__).resolve().parent.parent
T0 = 1_763_900_000_000_000_000
S = 1_000_000_000
LATENCY = 2_000_000  # 2 ms network delay


@pytest.fixture(scope="module")
def config() -> PlantConfig:
    # P-101: vib-de every 60 s, temp every 10 s, ctx every 10 s, cam every 300 s, log every 4 h
    return load_config(REPO / "configs" / "plant.toml")


def thermal(t: int, seq: int, de: float = 40.0, epoch: int = 1) -> ThermalReading:
    values = {"bearing_de": de, "bearing_nde": 38.0, "winding": 60.0}
    return ThermalReading(Header("P-101", "temp", t, epoch, seq), values)


def context(t: int, seq: int, load: float = 0.8, state=MachineState.RUNNING) -> ContextReading:
    return ContextReading(Header("P-101", "ctx", t, 1, seq), 24.5, load, 20.0, state)


def vibration(t: int, seq: int) -> VibrationSnapshot:
    x = np.full((3, 64), seq, dtype=np.float32)
    return VibrationSnapshot(Header("P-101", "vib-de", t, 1, seq), 12800.0, ("x", "y", "z"), x)


def note(t: int, seq: int, text: str = "DE brg noisy") -> OperatorNote:
    return OperatorNote(Header("P-101", "log", t, 1, seq), text)


def stream(minutes: int) -> list:
    """P-101 at its configured rates, on time, in order."""
    out = []
    for k in range(minutes * 6):
        t = T0 + k * 10 * S
        out += [thermal(t + S, k, 40.0 + 0.01 * k), context(t + 2 * S, k, 0.5 + 0.001 * k)]
        if k % 6 == 0:
            out.append(vibration(t + 3 * S, k))
        if k % 30 == 0:
            img = np.full((16, 16, 3), k % 256, np.uint8)
            out.append(CameraImage(Header("P-101", "cam", t + 4 * S, 1, k), img))
    return out


def same_series(x, y) -> bool:
    if x is None or y is None:
        return x is y
    return x.channels == y.channels and all(
        np.array_equal(getattr(x, g.name), getattr(y, g.name), equal_nan=True)
        for g in dataclasses.fields(x)
        if g.name != "channels"
    )


def same(a: Window, b: Window) -> bool:
    for f in dataclasses.fields(Window):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if not (same_series(x, y) if f.name == "thermal" else x == y):
            return False
    return True


def test_a_modality_is_stale_after_its_periods_and_absent_from_the_mask(config) -> None:
    asm = WindowAssembler(config)
    for k in range(5):
        asm.add(thermal(T0 + k * 10 * S, k))
    last = T0 + 40 * S
    fresh = asm.window("P-101", last + 30 * S)  # 3 periods of 10 s
    stale = asm.window("P-101", last + 31 * S)
    assert fresh.present[Modality.THERMAL] and fresh.staleness_s[Modality.THERMAL] == 30.0
    assert stale.thermal is None and not stale.mask[1]
    assert stale.staleness_s[Modality.THERMAL] == 31.0  # still reported, for the evidence view
    assert fresh.mask.tolist() == [False, True, False, False]


def test_each_model_input_reading_yields_a_window_and_context_does_not(config) -> None:
    asm = WindowAssembler(config)
    assert asm.add(context(T0, 0)) is None
    w = asm.add(vibration(T0 + S, 0))
    assert w is not None and w.trigger is Modality.VIBRATION and w.ts_ns == T0 + S
    assert w.context is not None and w.vibration is not None
    assert w.mask.tolist() == [True, False, False, False]


def test_late_readings_within_tolerance_are_placed_in_time_order(config) -> None:
    in_order, shuffled = WindowAssembler(config), WindowAssembler(config)
    rs = [thermal(T0 + k * 10 * S, k, 40.0 + k) for k in range(20)]
    for r in rs:
        in_order.add(r)
    late = rs[:10] + rs[11:13] + [rs[10]] + rs[13:]  # rs[10] arrives 20 s late
    for r in late:
        shuffled.add(r)
    t = T0 + 190 * S
    assert same(in_order.window("P-101", t), shuffled.window("P-101", t))
    too_late = thermal(T0 + 159 * S, 99)  # 31 s before the newest (T0 + 190 s)
    assert shuffled.add(too_late) is None and shuffled.stats.too_late == 1


def test_duplicates_are_ignored_but_a_new_epoch_is_not_a_duplicate(config) -> None:
    asm = WindowAssembler(config)
    assert asm.add(thermal(T0, 7)) is not None
    assert asm.add(thermal(T0, 7)) is None and asm.stats.duplicates == 1
    assert asm.add(thermal(T0 + 10 * S, 7, epoch=2)) is not None  # gateway restarted its counter


def test_the_sensor_clock_estimate_ignores_occasional_late_deliveries() -> None:
    clock = SensorClock()
    rng = np.random.default_rng(0)
    for k in range(40):
        true = T0 + k * 10 * S
        delay = LATENCY + (int(20 * S) if k % 7 == 3 else int(rng.integers(0, 3_000_000)))
        clock.observe(true + 4 * S, true + delay)  # the sensor's clock runs 4 s ahead
    assert abs(clock.offset_ns - (4 * S - LATENCY)) < 5_000_000


def test_clock_skew_is_corrected_against_arrival_times(config) -> None:
    skew = 7 * S  # the vibration sensor's clock is 7 s ahead; taken at true T, stamped T + 7 s
    asm, naive = WindowAssembler(config), WindowAssembler(config)
    for k in range(10):
        true = T0 + k * 60 * S
        snap = vibration(true + skew, k)
        asm.add(snap, arrival_ns=true + LATENCY)
        naive.add(snap)
        asm.add(thermal(true, k), arrival_ns=true + LATENCY)
        naive.add(thermal(true, k))
    last_true = T0 + 9 * 60 * S
    w = asm.window("P-101", last_true + 3 * S)
    assert w.vibration is not None and w.vibration.header.seq == 9
    assert w.staleness_s[Modality.VIBRATION] == pytest.approx(3.0, abs=0.01)
    wrong = naive.window("P-101", last_true + 3 * S)  # uncorrected, it looks 4 s in the future
    assert wrong.vibration.header.seq == 8


def test_notes_enter_only_windows_at_or_after_them_within_the_look_back(config) -> None:
    asm = WindowAssembler(config)
    t = T0 + 2 * 86_400 * S
    asm.add(note(t - 86_400 * S - S, 0, "too old"))
    asm.add(note(t - 3600 * S, 1, "DE brg noisy"))
    asm.add(note(t + S, 2, "written after the window"))
    w = asm.window("P-101", t)
    assert [n.text for n in w.notes] == ["DE brg noisy"]
    assert w.staleness_s[Modality.NOTES] == 3600.0
    assert [n.text for n in asm.window("P-101", t + S).notes] == [
        "DE brg noisy",
        "written after the window",
    ]
    assert [n.text for n in asm.window("P-101", t - 3600 * S - 1).notes] == ["too old"]
    assert asm.window("P-101", t - 86_400 * S - 2 * S).notes == ()


def test_thermal_history_is_resampled_with_context_aligned(config) -> None:
    asm = WindowAssembler(config)
    for k in range(400):  # 4000 s of a temperature ramp; load steps and the machine stops
        t = T0 + k * 10 * S
        asm.add(thermal(t, k, 40.0 + 0.1 * k))
        stopped = k >= 300
        asm.add(context(t, k, 0.2 if stopped else 0.9,
                        MachineState.STOPPED if stopped else MachineState.RUNNING))  # fmt: skip
    now = T0 + 3990 * S
    th = asm.window("P-101", now).thermal
    assert (
        th.ts_ns.shape == (32,)
        and th.ts_ns[-1] == now
        and th.ts_ns[0] == now - 3600 * S + 112_500_000_000
    )
    assert th.channels == ("bearing_de", "bearing_nde", "winding")
    expected_de = 40.0 + 0.1 * (th.ts_ns - T0) / (10 * S)
    np.testing.assert_allclose(th.temperature_c[:, 0], expected_de, rtol=1e-6)
    stop_t = T0 + 3000 * S
    assert (th.running == (th.ts_ns < stop_t)).all()
    assert (th.load_fraction[th.ts_ns <= stop_t - 10 * S] == np.float32(0.9)).all()
    assert (th.load_fraction[th.ts_ns >= stop_t] == np.float32(0.2)).all()
    early = asm.window("P-101", T0 + 600 * S).thermal  # less history than the look-back
    assert early.ts_ns[0] >= T0 and len(early.ts_ns) == 6


def test_undeclared_assets_and_sensors_are_counted_not_crashed(config) -> None:
    asm = WindowAssembler(config)
    stranger = ThermalReading(Header("X-999", "temp", T0, 1, 0), {"a": 1.0})
    odd_sensor = ThermalReading(Header("P-101", "nope", T0, 1, 0), {"a": 1.0})
    assert asm.add(stranger) is None and asm.add(odd_sensor) is None
    assert asm.stats.unknown == 2


def test_offline_windows_equal_live_windows_at_the_same_times(config, tmp_path) -> None:
    rs = stream(minutes=40)
    arrivals = [r.header.ts_ns + LATENCY for r in rs]
    times = [T0 + k * 600 * S for k in range(1, 5)]
    live = WindowAssembler(config)
    expected, i = [], 0
    for t in times:
        while i < len(rs) and arrivals[i] <= t:
            live.add(rs[i], arrival_ns=arrivals[i])
            i += 1
        expected.append(live.window("P-101", t))
    from_list = windows_at(config, list(zip(rs, arrivals, strict=True)), "P-101", times)
    with StoreWriter(tmp_path) as w:
        w.write_with_ingest_ns(rs, arrivals)
    from_store = WindowAssembler(config).windows_at(StoreReader(tmp_path), "P-101", times[::-1])
    assert all(same(a, b) for a, b in zip(expected, from_list, strict=True))
    assert all(same(a, b) for a, b in zip(expected, from_store[::-1], strict=True))
    assert all(w.mask.tolist() == [True, True, True, False] for w in expected)


def test_a_restarted_scorer_rebuilds_the_latest_window_from_store_and_wal(config, tmp_path) -> None:
    rs = stream(minutes=70)
    arrivals = [r.header.ts_ns + LATENCY for r in rs]
    live = WindowAssembler(config)
    for r, a in zip(rs, arrivals, strict=True):
        live.add(r, arrival_ns=a)
    live.add(note(rs[-1].header.ts_ns - 60 * S, 0), arrival_ns=rs[-1].header.ts_ns)
    cut = len(rs) - 50
    with StoreWriter(tmp_path) as w:
        w.write_with_ingest_ns(rs[:cut], arrivals[:cut])
    wal = WriteAheadLog(tmp_path / "_wal" / "ingest-0")  # the newest readings are not flushed yet
    for r, a in [*zip(rs[cut:], arrivals[cut:], strict=True),
                 (note(rs[-1].header.ts_ns - 60 * S, 0), rs[-1].header.ts_ns)]:  # fmt: skip
        wal.append(reading_topic("demo", "pumphouse", "P-101", r.header.sensor, r.modality),
                   encode(r), a)  # fmt: skip
    wal.sync()
    now = rs[-1].header.ts_ns + 5 * S
    rebuilt = WindowAssembler(config).rebuild_from_store(StoreReader(tmp_path), now)
    assert [w.asset for w in rebuilt] == ["P-101"]
    assert same(rebuilt[0], live.window("P-101", now))
    assert rebuilt[0].mask.tolist() == [True, True, True, True]
