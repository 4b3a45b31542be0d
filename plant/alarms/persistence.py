"""k-of-m persistence with a deadband and on/off delays: when an alarm condition holds.

The condition *raises* when at least ``k`` of the last ``m`` p-values are below ``alpha`` and this
has held for ``on_delay``; once raised it *clears* only when fewer than ``k`` of the last ``m`` are
below ``alpha * deadband_ratio`` and that has held for ``off_delay``. The gap between the two
thresholds (the deadband) and the delays are what keep a noisy score from chattering.

Evidence is counted per *slot* of ``slot_s``: the scorer rescores an asset on every new reading,
so consecutive p-values share most of their data and are not k independent pieces of evidence.
A slot counts as below alpha only if *every* p-value in it was (so rescoring cannot shop for a
low value), and as below the deadband threshold if *any* was (so an active alarm does not clear
on one noisy rescoring). The m entries are m slots. With independent p-values under normal
operation a raise per slot has probability about C(m, k) alpha^k, so the false-alarm rate per
asset-day is about 86400 / slot_s * C(m, k) * alpha^k (0.003 with the defaults).

Times are the events' own times (UTC ns), so a replay with a replaced clock gives the live
system's answer. This sits on the engine's hot path: plain Python, no allocation per update.
"""

from __future__ import annotations

from collections import deque
from enum import IntEnum

from plant.config.alarms import PersistenceConfig

NS = 1_000_000_000


class Change(IntEnum):
    NONE = 0
    RAISE = 1
    CLEAR = 2


class Persistence:
    """The k-of-m state of one alarm condition (one asset)."""

    __slots__ = (
        "_bits",
        "_last_slot",
        "_n_off",
        "_n_on",
        "_pending_ns",
        "active",
        "alpha",
        "alpha_off",
        "k",
        "m",
        "off_delay_ns",
        "on_delay_ns",
        "slot_ns",
    )

    def __init__(self, config: PersistenceConfig) -> None:
        self.k = config.k
        self.m = config.m
        self.alpha = config.alpha
        self.alpha_off = config.alpha_off
        self.on_delay_ns = int(config.on_delay_s * NS)
        self.off_delay_ns = int(config.off_delay_s * NS)
        self.slot_ns = max(1, int(config.slot_s * NS))
        self._bits: deque[int] = deque()
        self.reset()

    def reset(self) -> None:
        """Forget the history (maintenance, suppression, a closed alarm): a new baseline."""
        self._bits.clear()
        self._n_on = 0
        self._n_off = 0
        self._pending_ns: int | None = None
        self._last_slot = -(2**62)
        self.active = False

    def assume_active(self) -> None:
        """Restart with the condition standing (a restored active alarm): m low values seen."""
        self.reset()
        self._bits.extend([3] * self.m)
        self._n_on = self._n_off = self.m
        self.active = True

    @property
    def last_slot(self) -> int:
        """The slot index (ts_ns // slot_ns) of the newest p-value counted."""
        return self._last_slot

    @property
    def below_alpha(self) -> int:
        """How many of the last m p-values were below alpha."""
        return self._n_on

    def update(self, p_value: float, ts_ns: int) -> Change:
        """Add one p-value; return whether the condition raised, cleared or did neither."""
        bit = (p_value < self.alpha) | ((p_value < self.alpha_off) << 1)
        bits = self._bits
        slot = ts_ns // self.slot_ns
        if slot < self._last_slot:
            return Change.NONE  # late evidence for a slot already passed
        if slot == self._last_slot and bits:
            old = bits.pop()  # merge into the slot: below alpha if all were, deadband if any
            self._n_on -= old & 1
            self._n_off -= old >> 1
            bit = (old & bit & 1) | ((old | bit) & 2)
        elif len(bits) == self.m:
            old = bits.popleft()
            self._n_on -= old & 1
            self._n_off -= old >> 1
        self._last_slot = slot
        bits.append(bit)
        self._n_on += bit & 1
        self._n_off += bit >> 1
        if not self.active:
            return self._step(self._n_on >= self.k, self.on_delay_ns, ts_ns, Change.RAISE)
        return self._step(self._n_off < self.k, self.off_delay_ns, ts_ns, Change.CLEAR)

    def _step(self, wants: bool, delay_ns: int, ts_ns: int, change: Change) -> Change:
        if not wants:
            self._pending_ns = None
            return Change.NONE
        if self._pending_ns is None:
            self._pending_ns = ts_ns
        if ts_ns - self._pending_ns < delay_ns:
            return Change.NONE
        self._pending_ns = None
        self.active = change is Change.RAISE
        return change
