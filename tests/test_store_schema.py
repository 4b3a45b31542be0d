"""The store's Parquet schema: exact round trips for every modality and table, and the encodings."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ingest.schema import READING_SCHEMAS, modality_of, readings_to_table, table_to_readings
from ingest.store import DeadLetter, StoreWriter
from ingest.store.records import (
    dead_letters_to_table,
    labels_to_table,
    scores_to_table,
    table_to_dead_letters,
    table_to_labels,
    table_to_scores,
)
from plant.events import HealthEvent
from plant.labels import FaultClass, FaultEpisode
from plant.readings import (
    CameraImage,
    ContextReading,
    Header,
    MachineState,
    Modality,
    OperatorNote,
    Quality,
    ThermalReading,
    VibrationSnapshot,
)

ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,8}", fullmatch=True)
i64 = st.integers(-(2**63), 2**63 - 1)
finite = st.floats(allow_nan=False, allow_infinity=False)
headers = st.builds(Header, ids, ids, i64, i64, i64, st.sampled_from(list(Quality)))


@st.composite
def vibrations(draw: st.DrawFn) -> VibrationSnapshot:
    c = draw(st.integers(1, 3))
    floats = st.floats(width=32, allow_nan=False)
    arr = draw(hnp.arrays(np.float32, (c, draw(st.integers(8, 40))), elements=floats))
    chans = tuple(draw(st.lists(ids, min_size=c, max_size=c)))
    return VibrationSnapshot(draw(headers), draw(finite), chans, arr)


@st.composite
def cameras(draw: st.DrawFn) -> CameraImage:
    shape = (draw(st.integers(1, 9)), draw(st.integers(1, 9)), 3)
    return CameraImage(draw(headers), draw(hnp.arrays(np.uint8, shape)))


READINGS = {
    Modality.VIBRATION: vibrations(),
    Modality.THERMAL: st.builds(ThermalReading, headers, st.dictionaries(ids, finite, max_size=4)),
    Modality.CONTEXT: st.builds(
        ContextReading, headers, finite, finite, finite, st.sampled_from(list(MachineState))
    ),
    Modality.CAMERA: cameras(),
    Modality.NOTES: st.builds(OperatorNote, headers, st.text(max_size=50), st.text(max_size=10)),
}


@pytest.mark.parametrize("modality", list(Modality))
def test_readings_round_trip_exactly_through_a_table(modality: Modality) -> None:
    @settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(READINGS[modality], max_size=5))
    def check(readings: list) -> None:
        table = readings_to_table(modality, readings, ingest_ns=7)
        assert table.schema.equals(READING_SCHEMAS[modality])
        assert modality_of(table) is modality
        assert table_to_readings(table) == readings

    check()


def test_readings_round_trip_exactly_through_parquet_files(tmp_path) -> None:
    h = Header("P-1", "vib", 1_700_000_000_000_000_000, 3, 9, Quality.UNCERTAIN)
    rs = [
        VibrationSnapshot(
            h,
            12800.0,
            ("x", "y"),
            np.random.default_rng(0).normal(size=(2, 256)).astype(np.float32),
        ),
        ThermalReading(h, {"de": 41.123456789012, "nde": -3.5e-7}),
        ContextReading(h, 24.6, 0.81, 19.5, MachineState.STARTING),
        CameraImage(h, np.arange(8 * 6 * 3, dtype=np.uint8).reshape(8, 6, 3)),
        OperatorNote(h, "DE brg noisy, smell of hot oil — ünïcode", "[person]"),
    ]
    with StoreWriter(tmp_path) as w:
        w.write(rs)
    for r in rs:
        files = list((tmp_path / "readings" / f"modality={r.modality.value}").rglob("*.parquet"))
        assert len(files) == 1
        assert table_to_readings(pq.read_table(files[0], schema=READING_SCHEMAS[r.modality])) == [r]


def test_vibration_samples_use_byte_stream_split_and_zstd(tmp_path) -> None:
    snap = VibrationSnapshot(
        Header("A", "v", 0, 0, 0), 1000.0, ("x",), np.ones((1, 64), dtype=np.float32)
    )
    with StoreWriter(tmp_path) as w:
        w.write([snap])
    (path,) = (tmp_path / "readings").rglob("*.parquet")
    meta = pq.ParquetFile(path).metadata
    names = [meta.schema.column(i).path for i in range(meta.num_columns)]
    col = meta.row_group(0).column(names.index("samples.list.element"))
    assert "BYTE_STREAM_SPLIT" in col.encodings
    assert col.compression == "ZSTD"


def test_labels_scores_and_dead_letters_round_trip() -> None:
    ep = FaultEpisode(
        "P-1", FaultClass.BEARING_OUTER, 10, 20, 30,
        frozenset({Modality.VIBRATION, Modality.THERMAL}), Modality.VIBRATION, 1.5, 0.3,
    )  # fmt: skip
    assert table_to_labels(labels_to_table([ep])) == [ep]
    # a labels file written before onset_severity existed reads as onset 0
    old = labels_to_table([ep]).drop_columns(["onset_severity"])
    (back,) = table_to_labels(old)
    assert back.onset_severity == 0.0 and back.onset_ns == ep.onset_ns
    ev = HealthEvent(
        "P-1", 5, 88.5, 0.3, 0.42, "normal", 0.9,
        {"vibration": True, "thermal": False, "camera": True, "notes": False},
        {"vibration": 12.0, "camera": 100.5}, "m-3", "motor-pump|vc",
        {"vibration": 0.2, "camera": -0.1}, 6, "vibration",
    )  # fmt: skip
    ev2 = HealthEvent("P-2", 6, 10.0, 9.0, 0.001, "imbalance", 0.7, {}, {}, "m-3")
    assert table_to_scores(scores_to_table([ev, ev2])) == [ev, ev2]
    dl = DeadLetter("plantwatch/v1/readings/x", b"\x00\xffraw", 11, "malformed", "not JSON")
    assert table_to_dead_letters(dead_letters_to_table([dl])) == [dl]


def test_a_reading_of_another_modality_is_refused() -> None:
    note = OperatorNote(Header("A", "n", 0, 0, 0), "x")
    with pytest.raises(ValueError, match="is not thermal"):
        readings_to_table(Modality.THERMAL, [note])


def test_scores_convert_in_chunks_keeping_the_shapley_values() -> None:
    """More rows than one conversion chunk, explanations present and absent: the table holds
    them all, in order, each explanation as its modality Shapley values."""
    from ingest.store.records import _SCORE_CHUNK

    n = 2 * _SCORE_CHUNK + 3
    events = [
        HealthEvent(
            f"P-{i % 7}",
            i,
            90.0 - i % 50,
            i / 10,
            1.0 / (i + 1),
            "normal" if i % 3 else "misalignment",
            0.5,
            {"vibration": True, "thermal": i % 2 == 0, "camera": False, "notes": i % 5 == 0},
            {"vibration": float(i)} if i % 4 else {},
            f"m-{i // _SCORE_CHUNK}",
            "motor-pump|vt",
            None if i % 2 else {"shapley": {"vibration": i / 100, "thermal": -0.5}, "base": 1.0},
            i + 1,
            None if i % 3 else "thermal",
        )
        for i in range(n)
    ]
    table = scores_to_table(events)
    assert table.num_rows == n and table.column("explanation").num_chunks == 3
    back = table_to_scores(table)
    # of an explanation the store keeps the modality Shapley values (docs/STORE.md)
    expected = [
        dataclasses.replace(e, explanation=e.explanation and e.explanation["shapley"])
        for e in events
    ]
    assert back == expected
    assert back[1].explanation is None
    assert back[0].explanation == {"vibration": 0.0, "thermal": -0.5}
    assert scores_to_table([]).num_rows == 0
