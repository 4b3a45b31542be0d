"""k-of-m persistence, deadband and on/off delays: a noisy score must not chatter."""

from __future__ import annotations

import numpy as np

from plant.alarms.persistence import Change, Persistence
from plant.config.alarms import PersistenceConfig

S = 1_000_000_000


def run(p: Persistence, values: np.ndarray, step_s: float = 10.0) -> list[tuple[int, Change]]:
    out = []
    for i, v in enumerate(values):
        c = p.update(float(v), int(i * step_s * S))
        if c is not Change.NONE:
            out.append((i, c))
    return out


def test_raises_only_when_k_of_last_m_are_below_alpha() -> None:
    p = Persistence(PersistenceConfig(k=3, m=5, alpha=0.01, slot_s=0))
    changes = run(p, np.array([0.5, 0.001, 0.5, 0.001, 0.5, 0.5, 0.5, 0.001, 0.001, 0.5, 0.001]))
    # the 3rd low value within 5 arrives at index 10 (7, 8, 10); 1, 3 are too far apart from 7
    assert changes == [(10, Change.RAISE)]
    assert p.active and p.below_alpha == 3


def test_noisy_score_around_a_fault_raises_once_and_clears_once() -> None:
    rng = np.random.default_rng(7)
    normal = rng.uniform(0, 1, 2000)
    fault = rng.uniform(0, 0.02, 300)  # half below alpha, all below alpha * deadband
    scores = np.concatenate([normal, fault, rng.uniform(0, 1, 2000)])
    steady = run(
        Persistence(PersistenceConfig(k=3, m=5, alpha=0.01, deadband_ratio=5, slot_s=0)), scores
    )
    assert [c for _, c in steady] == [Change.RAISE, Change.CLEAR]
    assert 2000 <= steady[0][0] < 2030 and steady[1][0] >= 2300
    # The same score through a bare threshold (k=1 of m=1, no deadband) chatters: the rule matters.
    bare = run(
        Persistence(PersistenceConfig(k=1, m=1, alpha=0.01, deadband_ratio=1, slot_s=0)), scores
    )
    assert sum(c is Change.RAISE for _, c in bare) > 50


def test_normal_score_at_alpha_rarely_raises() -> None:
    rng = np.random.default_rng(3)
    changes = run(
        Persistence(PersistenceConfig(k=3, m=5, alpha=0.01, slot_s=0)), rng.uniform(0, 1, 50_000)
    )
    assert changes == []


def test_on_delay_holds_the_raise_until_the_condition_lasted() -> None:
    p = Persistence(PersistenceConfig(k=1, m=1, alpha=0.01, on_delay_s=60, slot_s=0))
    changes = run(p, np.full(10, 0.001), step_s=10.0)
    assert changes == [(6, Change.RAISE)]  # first true at t=0, raised at t=60 s


def test_on_delay_restarts_when_the_condition_drops() -> None:
    p = Persistence(PersistenceConfig(k=1, m=1, alpha=0.01, on_delay_s=30, slot_s=0))
    values = np.array([0.001, 0.001, 0.001, 0.5, 0.001, 0.001, 0.001, 0.001])
    assert run(p, values) == [(7, Change.RAISE)]


def test_off_delay_holds_the_clear() -> None:
    p = Persistence(
        PersistenceConfig(k=1, m=1, alpha=0.01, deadband_ratio=1, off_delay_s=30, slot_s=0)
    )
    values = np.array([0.001, 0.5, 0.5, 0.001, 0.5, 0.5, 0.5, 0.5])
    assert run(p, values) == [(0, Change.RAISE), (7, Change.CLEAR)]


def test_reset_forgets_history() -> None:
    p = Persistence(PersistenceConfig(k=2, m=3, alpha=0.01, slot_s=0))
    p.update(0.001, 0)
    p.reset()
    assert p.update(0.001, S) is Change.NONE
    assert p.update(0.001, 2 * S) is Change.RAISE


def test_rescoring_within_a_slot_counts_once() -> None:
    p = Persistence(PersistenceConfig(k=3, m=5, alpha=0.01, slot_s=300))
    # Thirty rescorings in one 300 s slot (a low p-value each) are one piece of evidence.
    assert all(p.update(0.001, i * 10 * S) is Change.NONE for i in range(30))
    assert p.below_alpha == 1
    # A slot is below alpha only if all its p-values were: one high value in it cancels it.
    p.update(0.5, 299 * S)
    assert p.below_alpha == 0
    assert p.update(0.001, 300 * S) is Change.NONE
    assert p.update(0.001, 600 * S) is Change.NONE
    assert p.update(0.001, 900 * S) is Change.RAISE
    assert p.update(0.9, 100 * S) is Change.NONE  # late evidence for a past slot is ignored
    assert p.below_alpha == 3


def test_rescoring_cannot_shop_for_a_low_p_value() -> None:
    """Uniform (healthy) p-values rescored 5x per slot raise no more often than once per slot."""
    rng = np.random.default_rng(5)
    config = PersistenceConfig(k=2, m=3, alpha=0.05, slot_s=300)
    slots, per_slot = 20_000, 5
    p = Persistence(config)
    raises = 0
    for i, v in enumerate(rng.uniform(0, 1, slots * per_slot)):
        if p.update(float(v), i * 60 * S) is Change.RAISE:
            raises += 1
            p.reset()
    expected = slots * 3 * 0.05**2  # C(3,2) alpha^2 per slot, as with one p-value per slot
    assert raises < 1.5 * expected, (raises, expected)
