"""Splits cannot leak, and the quick AUROC is right."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from models.metrics import auroc, macro_f1
from models.splits import make_split


def test_test_assets_and_period_never_reach_training() -> None:
    assets = [f"A{i:03d}" for i in range(40)]
    split = make_split(
        assets, 0, 1000, test_fraction=0.25, val_fraction=0.2, test_period_fraction=0.3, seed=5
    )
    assert len(split.test_assets) == 10 and split.cut_ns == 700
    assert not set(split.test_assets) & (set(split.train_assets) | set(split.val_assets))
    assert not set(split.val_assets) & set(split.train_assets)
    grid_a = np.repeat(assets, 10)
    grid_t = np.tile(np.arange(0, 1000, 100), 40)
    m = split.masks(grid_a, grid_t)
    assert not (m["train"] & m["test"]).any() and not (m["val"] & m["test"]).any()
    assert grid_t[m["train"]].max() < split.cut_ns <= grid_t[m["test"]].min()
    assert set(grid_a[m["test"]]) == set(split.test_assets)
    again = make_split(
        assets[::-1],
        0,
        1000,
        test_fraction=0.25,
        val_fraction=0.2,
        test_period_fraction=0.3,
        seed=5,
    )
    assert again == split  # order of discovery does not matter, the seed does


def test_auroc_matches_pairwise_definition_with_ties() -> None:
    rng = np.random.default_rng(0)
    y = rng.random(300) < 0.2
    s = np.round(rng.normal(size=300) + y, 1)  # rounded: many ties
    pos, neg = s[y], s[~y]
    pairwise = ((pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum()) / (
        len(pos) * len(neg)
    )
    assert abs(auroc(y, s) - pairwise) < 1e-12
    assert auroc(y, y.astype(float)) == 1.0 and np.isnan(auroc(np.zeros(3, bool), np.ones(3)))
    assert macro_f1(np.array([1, 1, 2]), np.array([1, 1, 2])) == 1.0


def test_notes_are_labelled_visible_only_once_a_fault_is_noticeable() -> None:
    """An operator writes about a bearing defect only once it is heard (notice severity 0.55 in
    the fault table): below that the notes label is off, above it on; vibration is on throughout."""
    from models.dataset import label_window
    from plant.labels import FaultClass, FaultEpisode
    from plant.readings import MODEL_MODALITIES, Modality

    hour = 3600 * 10**9
    ep = FaultEpisode(
        "PA-001", FaultClass.BEARING_OUTER, 0, 10 * hour, 11 * hour,
        frozenset({Modality.VIBRATION, Modality.NOTES}), Modality.VIBRATION,
        growth_exponent=1.0, onset_severity=0.3,
    )  # fmt: skip
    notes, vib = MODEL_MODALITIES.index(Modality.NOTES), MODEL_MODALITIES.index(Modality.VIBRATION)
    early = label_window([ep], "PA-001", 2 * hour)  # severity 0.44
    late = label_window([ep], "PA-001", 8 * hour)  # severity 0.86
    assert early[0] and early[4] < 0.55 and not early[2][notes] and early[2][vib]
    assert late[0] and late[4] > 0.55 and late[2][notes] and late[2][vib]


def test_notes_show_a_fault_only_in_a_note_written_once_it_was_noticeable() -> None:
    """Past the notice severity the window's newest note must itself be from then: a routine
    note written while the bearing was still quiet says nothing of the fault (it taught the
    notes head that routine texts mean faults). The note times relabelling reads from the store
    are the newest at or before each window, within the notes look-back."""
    from models.dataset import Dataset, Labels, label_window, newest_note_times, relabel
    from plant.labels import FaultClass, FaultEpisode
    from plant.readings import MODEL_MODALITIES, Modality

    hour = 3600 * 10**9
    ep = FaultEpisode(
        "PA-001", FaultClass.BEARING_OUTER, 0, 10 * hour, 11 * hour,
        frozenset({Modality.VIBRATION, Modality.NOTES}), Modality.VIBRATION,
        growth_exponent=1.0, onset_severity=0.3,
    )  # fmt: skip
    notes = MODEL_MODALITIES.index(Modality.NOTES)
    # severity 0.86 at 8 h; 0.44 at 2 h (before notice 0.55); 0.65 at 5 h (after)
    assert label_window([ep], "PA-001", 8 * hour)[2][notes]  # note time unknown: notice alone
    assert not label_window([ep], "PA-001", 8 * hour, 2 * hour)[2][notes]
    assert label_window([ep], "PA-001", 8 * hour, 5 * hour)[2][notes]
    assert not label_window([ep], "PA-001", 8 * hour, -1)[2][notes]  # no note in the window
    assert label_window([ep], "PA-001", 8 * hour, 2 * hour)[2][0]  # vibration unaffected

    note_asset = np.array(["PA-001", "PA-001", "FN-001"])
    note_ts = np.array([5 * hour, 2 * hour, 1 * hour], np.int64)  # any order
    asset = np.array(["PA-001"] * 4 + ["FN-001", "GB-001"])
    ts = np.array([1, 3, 8, 40, 3, 3], np.int64) * hour
    got = newest_note_times(note_asset, note_ts, asset, ts, 24 * hour)
    assert got.tolist() == [-1, 2 * hour, 5 * hour, -1, 1 * hour, -1]  # 40 h: older than 24 h
    stale = Labels(
        fault=np.zeros(2, bool), fault_class=np.zeros(2, np.int32),
        visible=np.zeros((2, 4), bool), primary=np.full(2, -1, np.int32),
        severity=np.zeros(2, np.float32), asset=np.array(["PA-001"] * 2),
        ts_ns=np.array([8 * hour, 8 * hour]),
    )  # fmt: skip
    fresh = relabel(Dataset(None, stale), [ep], np.array([2 * hour, 5 * hour])).labels  # type: ignore[arg-type]
    assert fresh.visible[:, notes].tolist() == [False, True]


def test_a_secondary_modality_is_labelled_visible_only_past_its_own_onset() -> None:
    """A bearing defect heats its bearing only from severity 0.6 (the fault table's thermal
    sign): before that its windows are not labelled visible in thermal; vibration, the primary,
    is visible from onset. Relabelling a dataset reproduces label_window."""
    from models.dataset import label_window
    from plant.labels import FaultClass, FaultEpisode
    from plant.readings import MODEL_MODALITIES, Modality

    hour = 3600 * 10**9
    ep = FaultEpisode(
        "PA-001", FaultClass.BEARING_INNER, 0, 10 * hour, 11 * hour,
        frozenset({Modality.VIBRATION, Modality.THERMAL, Modality.NOTES}), Modality.VIBRATION,
        growth_exponent=1.0, onset_severity=0.3,
    )  # fmt: skip
    th, vib = MODEL_MODALITIES.index(Modality.THERMAL), MODEL_MODALITIES.index(Modality.VIBRATION)
    early = label_window([ep], "PA-001", 3 * hour)  # severity 0.51
    late = label_window([ep], "PA-001", 8 * hour)  # severity 0.86
    assert early[2][vib] and not early[2][th]
    assert late[2][vib] and late[2][th]
    from models.dataset import Dataset, Labels, relabel

    ts = np.array([3 * hour, 8 * hour, 12 * hour], np.int64)
    stale = Labels(
        fault=np.zeros(3, bool), fault_class=np.zeros(3, np.int32),
        visible=np.zeros((3, 4), bool), primary=np.full(3, -1, np.int32),
        severity=np.zeros(3, np.float32), asset=np.array(["PA-001"] * 3), ts_ns=ts,
    )  # fmt: skip
    fresh = relabel(Dataset(None, stale), [ep]).labels  # type: ignore[arg-type]
    assert fresh.fault.tolist() == [True, True, False]
    assert fresh.visible[0].tolist() == early[2].tolist()
    assert fresh.visible[1].tolist() == late[2].tolist()
    assert fresh.asset.tolist() == stale.asset.tolist()


def test_a_test_split_too_small_to_compare_models_is_warned_about(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from types import SimpleNamespace

    from models.config import ModelConfig
    from models.train import split_dataset

    def dataset(n_assets: int, faults: bool) -> SimpleNamespace:
        asset = np.repeat([f"A-{i:03d}" for i in range(n_assets)], 10)
        ts = np.tile(np.arange(10), n_assets).astype(np.int64)
        fault = np.zeros(len(asset), bool) | (faults & (ts >= 8))
        return SimpleNamespace(
            labels=SimpleNamespace(asset=asset, ts_ns=ts, fault=fault), take=lambda idx: idx
        )

    cfg = ModelConfig()
    with caplog.at_level(logging.WARNING, logger="models.train"):
        split_dataset(dataset(6, True), cfg)  # type: ignore[arg-type]
    assert "too noisy to compare models" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="models.train"):
        split, _ = split_dataset(dataset(40, True), cfg)  # type: ignore[arg-type]
    assert len(split.test_assets) >= 5 and "too noisy" not in caplog.text
