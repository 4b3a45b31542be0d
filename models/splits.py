"""Splits that cannot leak: test assets never seen in training, test period after training.

Assets are split once, by a seeded permutation: test assets (only their test-period windows are
used), validation assets (training period), training assets (training period). Windows of training
assets after the cut are not used at all, so nothing a test window shows was seen in training,
neither the machine nor the time.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Split:
    train_assets: tuple[str, ...]
    val_assets: tuple[str, ...]
    test_assets: tuple[str, ...]
    cut_ns: int  # first instant of the test period

    def masks(self, asset: np.ndarray, ts_ns: np.ndarray) -> dict[str, np.ndarray]:
        """Boolean row masks (train, val, test) for windows at (asset, ts_ns)."""
        before = ts_ns < self.cut_ns
        return {
            "train": np.isin(asset, self.train_assets) & before,
            "val": np.isin(asset, self.val_assets) & before,
            "test": np.isin(asset, self.test_assets) & ~before,
        }

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def make_split(
    assets: list[str],
    t0_ns: int,
    t1_ns: int,
    *,
    test_fraction: float,
    val_fraction: float,
    test_period_fraction: float,
    seed: int,
) -> Split:
    """Seeded asset split plus a time cut at ``test_period_fraction`` before ``t1_ns``."""
    names = sorted(set(assets))
    if len(names) < 3:
        raise ValueError(f"need at least 3 assets for train/val/test, got {len(names)}: {names}")
    order = np.random.default_rng(seed).permutation(len(names))
    n_test = max(1, round(test_fraction * len(names)))
    n_val = max(1, round(val_fraction * (len(names) - n_test)))
    if n_test + n_val >= len(names):
        n_test, n_val = 1, 1
    pick = [names[i] for i in order]
    cut = int(t1_ns - test_period_fraction * (t1_ns - t0_ns))
    return Split(
        train_assets=tuple(sorted(pick[n_test + n_val :])),
        val_assets=tuple(sorted(pick[n_test : n_test + n_val])),
        test_assets=tuple(sorted(pick[:n_test])),
        cut_ns=cut,
    )
