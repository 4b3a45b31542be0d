"""Splits cannot leak, and the quick AUROC is right."""

from __future__ import annotations

import numpy as np

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
