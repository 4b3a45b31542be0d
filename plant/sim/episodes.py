"""The fault-episode scheduler: Poisson arrivals, onset -> growth -> failure -> repair, per asset.

Faults arrive at ``faults_per_asset_year`` while the asset is healthy (one episode at a time).
Each episode degrades for ``degradation_days x duration_factor`` days, reaches functional failure,
and is repaired after a maintenance stop of a few hours, which resets severity to zero. The
process starts ten days before the simulation does, so some assets begin with a fault already
developing, as a real plant would.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from plant.config import Asset, SimulationConfig
from plant.labels import FaultEpisode
from plant.readings import Modality
from plant.sim.faults import FaultSpec, faults_for
from plant.sim.streams import Stream, substream

NS_PER_S = 1_000_000_000
NS_PER_DAY = 86_400 * NS_PER_S
NS_PER_YEAR = 365 * NS_PER_DAY
BURN_IN_NS = 10 * NS_PER_DAY
REPAIR_HOURS = (2.0, 12.0)


@dataclasses.dataclass(frozen=True, slots=True)
class ScheduledFault:
    """An episode with what the simulator needs beside the label."""

    episode: FaultEpisode
    spec: FaultSpec
    noted: bool  # will an operator ever write it up (once noticeable)?
    location: int  # which bearing / spot, for camera placement and probe choice


class FaultScheduler:
    """Extends an asset's episode list lazily as simulated time advances."""

    def __init__(self, asset: Asset, sim: SimulationConfig, seed: int, start_ns: int) -> None:
        self.asset = asset
        self.sim = sim
        self._rng = substream(seed, asset.index, Stream.FAULTS)
        self._specs = faults_for(asset.config.type)
        weights = np.array([s.weight for s in self._specs])
        self._p = weights / weights.sum()
        self._start_ns = start_ns
        self._next_onset_ns = start_ns - BURN_IN_NS + self._wait_ns()
        self.scheduled: list[ScheduledFault] = []

    @property
    def episodes(self) -> list[FaultEpisode]:
        return [f.episode for f in self.scheduled]

    def _wait_ns(self) -> int:
        rate = self.sim.faults_per_asset_year
        if rate <= 0:
            return np.iinfo(np.int64).max // 4
        return int(self._rng.exponential(NS_PER_YEAR / rate))

    def extend(self, until_ns: int) -> None:
        """Schedule every episode whose onset is before ``until_ns``."""
        while self._next_onset_ns < until_ns:
            fault = self._draw(self._next_onset_ns)
            self._next_onset_ns = fault.episode.repair_ns + self._wait_ns()
            if fault.episode.repair_ns > self._start_ns:
                self.scheduled.append(fault)

    def _draw(self, onset_ns: int) -> ScheduledFault:
        rng = self._rng
        spec = self._specs[int(rng.choice(len(self._specs), p=self._p))]
        lo, hi = self.sim.degradation_days
        days = rng.uniform(lo, hi) * rng.uniform(*spec.duration_factor)
        failure_ns = onset_ns + max(int(days * NS_PER_DAY), 60 * NS_PER_S)
        repair_ns = failure_ns + int(rng.uniform(*REPAIR_HOURS) * 3600 * NS_PER_S)
        noted = bool(rng.random() < spec.p_noted)
        visible_in = spec.visible_in if noted else spec.visible_in - {Modality.NOTES}
        episode = FaultEpisode(
            asset=self.asset.id,
            fault=spec.fault,
            onset_ns=int(onset_ns),
            failure_ns=failure_ns,
            repair_ns=repair_ns,
            visible_in=visible_in,
            primary=spec.primary,
            growth_exponent=spec.growth_exponent,
            onset_severity=spec.onset_severity,
        )
        return ScheduledFault(episode, spec, noted, int(rng.integers(0, 1 << 16)))

    def active(self, t0_ns: int, t1_ns: int) -> list[ScheduledFault]:
        """Episodes that overlap [t0, t1)."""
        return [
            f for f in self.scheduled if f.episode.onset_ns < t1_ns and f.episode.repair_ns > t0_ns
        ]
