"""The plant simulator: every asset's readings, in (roughly) publish-time order, with ground truth.

    sim = PlantSimulator(config, seed=7, start_ns=...)
    for reading in sim.readings(until_ns):   # resumable: a second call continues
        ...
    sim.episodes                              # the fault episodes so far (labels)
    sim.truth()                               # a JSON-able summary of the ground truth

Time advances in one-hour chunks; inside a chunk all assets' messages are sorted by publish
time. A message the disorder layer holds back past the chunk's end waits for the next chunk, so
readings come out of order only as the disorder layer intends (duplicates, delays, skew).
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Iterator

from plant.config import PlantConfig
from plant.labels import FaultEpisode
from plant.readings import Reading
from plant.sim.asset import CHUNK_NS, AssetSimulator
from plant.sim.faults import FAULT_TABLE

log = logging.getLogger(__name__)

NS_PER_S = 1_000_000_000


class PlantSimulator:
    """Simulates every asset of ``config`` from ``start_ns`` (UTC ns). Deterministic by seed.

    ``shift``: the shifted operating regime (heavier load, warmer ambient, darker and less steady
    camera views) used for the held-out shifted-conditions test set. ``assets``: simulate only
    these asset ids (parallel generation splits a plant this way; the data are the same).
    ``step_s``: how much simulated time is produced, sorted and handed out at once (memory and
    first-message latency grow with it, per-step overhead shrinks; a live publisher of thousands
    of assets wants seconds). The data do not depend on it.
    """

    def __init__(
        self,
        config: PlantConfig,
        seed: int,
        start_ns: int,
        shift: bool = False,
        assets: frozenset[str] | None = None,
        step_s: float = 600.0,
    ) -> None:
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        if not 0 < step_s <= CHUNK_NS / NS_PER_S:
            raise ValueError(f"step_s must be in (0, 3600], got {step_s}")
        self.step_ns = int(step_s * NS_PER_S)
        self.config, self.seed, self.start_ns, self.shift = config, seed, int(start_ns), shift
        chosen = [a for a in config.resolved_assets if assets is None or a.id in assets]
        self.assets = [AssetSimulator(a, config, seed, self.start_ns, shift) for a in chosen]
        self._cursor_ns = self.start_ns
        self._pending: list[tuple[int, Reading]] = []

    @property
    def now_ns(self) -> int:
        """Simulated time up to which readings have been produced."""
        return self._cursor_ns

    def readings(self, until_ns: int) -> Iterator[Reading]:
        """Every message from the current time to ``until_ns``, in publish-time order."""
        for _, r in self.messages(until_ns):
            yield r

    def messages(self, until_ns: int) -> Iterator[tuple[int, Reading]]:
        """(publish_ns, reading) pairs: :meth:`readings` with the time each reaches the broker
        (true time plus any delay; duplicates a second later), e.g. as the store's ingest time."""
        while self._cursor_ns < until_ns:
            t0 = self._cursor_ns
            hour_end = (t0 - self.start_ns) // CHUNK_NS * CHUNK_NS + self.start_ns + CHUNK_NS
            t1 = min(until_ns, t0 + self.step_ns, hour_end)
            batch = self._pending
            for a in self.assets:
                batch.extend(a.chunk(t0, t1))
            batch.sort(key=_publish_time)
            cut = next((i for i in range(len(batch) - 1, -1, -1) if batch[i][0] < t1), -1) + 1
            self._pending = batch[cut:]
            self._cursor_ns = t1
            log.debug("chunk %d..%d: %d messages", t0, t1, cut)
            yield from batch[:cut]
        if self._pending:  # held-back messages of the last chunk: late, but not lost
            rest, self._pending = self._pending, []
            yield from rest

    @property
    def episodes(self) -> list[FaultEpisode]:
        """Ground-truth fault episodes scheduled so far (onset before the current time)."""
        return sorted(
            (e for a in self.assets for e in a.faults.episodes), key=lambda e: (e.onset_ns, e.asset)
        )

    def truth(self) -> dict:
        """A JSON-able ground-truth summary: faults, missing modalities, stuck sensors, notes."""
        assets = {}
        for a in self.assets:
            notes = collections.Counter(t.kind for t in a.note_truth)
            assets[a.asset.id] = {
                "type": a.asset.type,
                "missing_modality": a.disorder.missing.value if a.disorder.missing else None,
                "clock_skew_s": {k: v / NS_PER_S for k, v in a.disorder.skew_ns.items()},
                "episodes": [
                    {
                        "fault": f.episode.fault.value,
                        "onset_ns": f.episode.onset_ns,
                        "failure_ns": f.episode.failure_ns,
                        "repair_ns": f.episode.repair_ns,
                        "primary": f.episode.primary.value,
                        "growth_exponent": f.episode.growth_exponent,
                        "onset_severity": f.episode.onset_severity,
                        "visible_in": sorted(m.value for m in f.episode.visible_in),
                        "noted": f.noted,
                    }
                    for f in a.faults.scheduled
                ],
                "stuck_sensors": [
                    {
                        "sensor": e.sensor,
                        "channel": e.channel,
                        "start_ns": e.start_ns,
                        "end_ns": e.end_ns,
                    }
                    for e in a.stuck_seen.values()
                ],
                "notes_by_kind": dict(notes),
            }
        return {
            "seed": self.seed,
            "start_ns": self.start_ns,
            "end_ns": self._cursor_ns,
            "shift": self.shift,
            "fault_table": {
                f.value: {
                    "primary": s.primary.value,
                    "visible_in": sorted(m.value for m in s.visible_in),
                    "asset_types": sorted(t.value for t in s.asset_types),
                }
                for f, s in FAULT_TABLE.items()
            },
            "assets": assets,
        }


def _publish_time(item: tuple[int, Reading]) -> int:
    return item[0]
