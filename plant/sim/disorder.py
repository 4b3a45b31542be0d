"""Real-world disorder: dropouts, gateway outages, clock skew, duplicates, reordering, stuck probes.

Per asset (one gateway) and sensor, at the rates of ``SimulationConfig``:

- ``dropout_probability`` of messages are lost: half as isolated drops (the sequence number
  still advances: the gap shows), half in gateway outages of ~20 minutes, after which the gateway
  reboots and every sensor of the asset takes a new boot epoch (seq restarts at 0);
- each sensor's clock is off by a constant skew ~ N(0, ``clock_skew_s``);
- ``duplicate_probability`` of messages are published twice (same epoch and seq);
- ``reorder_probability`` of messages are held back and published up to a minute late;
- ``stuck_sensor_per_asset_year`` stuck episodes (2 h to 3 days): a thermal probe repeats its
  last value, or an accelerometer axis flat-lines. The quality flag stays good: spotting a stuck
  sensor is the monitoring's job, not the sensor's;
- ``missing_modality_fraction`` of assets lack one model modality altogether.

All draws are functions of (seed, asset, sensor, emission index block or hour), so cutting time
into different chunks changes nothing; epochs and sequence numbers carry state in time order.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from plant.config import Asset, SimulationConfig
from plant.readings import MODEL_MODALITIES, Modality
from plant.sim.streams import Stream, memo, substream

NS_PER_S = 1_000_000_000
HOUR_NS = 3600 * NS_PER_S
GAP_MEAN_S = 1200.0
BLOCK = 64  # messages per random block
STUCK_H = (2.0, 72.0)


@dataclasses.dataclass(frozen=True, slots=True)
class Emissions:
    """What happens to a sensor's scheduled messages in one chunk (arrays aligned with ts)."""

    keep: np.ndarray  # (n,) bool: reaches the broker at all
    header_ts_ns: np.ndarray  # (n,) int64: the sensor's (skewed) clock
    publish_ns: np.ndarray  # (n,) int64: when it is published (true time + any delay)
    epoch: np.ndarray  # (n,) int64
    seq: np.ndarray  # (n,) int64
    duplicate: np.ndarray  # (n,) bool: published a second time


@dataclasses.dataclass(frozen=True, slots=True)
class StuckEpisode:
    asset: str
    sensor: str
    channel: str
    start_ns: int
    end_ns: int


class Disorder:
    """The disorder of one asset's gateway and sensors."""

    def __init__(self, asset: Asset, sim: SimulationConfig, seed: int, start_ns: int) -> None:
        self.asset, self.sim, self.seed = asset, sim, seed
        rng = substream(seed, asset.index, Stream.DISORDER, 0)
        self.skew_ns = {
            s.id: int(rng.normal(0.0, sim.clock_skew_s) * NS_PER_S) for s in asset.sensors
        }
        have = [m for m in MODEL_MODALITIES if any(s.modality is m for s in asset.sensors)]
        self.missing: Modality | None = None
        if have and rng.random() < sim.missing_modality_fraction:
            self.missing = have[int(rng.integers(len(have)))]
        self.epoch = int(start_ns // NS_PER_S - rng.integers(3600, 30 * 86_400))
        self._seq = {s.id: 0 for s in asset.sensors}
        self._epochs: dict[str, int] = {}
        self._last_ns: dict[str, int] = {}

    # ------------------------------------------------------------------ outages
    @memo
    def _gaps_in_hour(self, h: int) -> tuple[tuple[int, int], ...]:
        rng = substream(self.seed, self.asset.index, Stream.DISORDER, 1, h)
        rate_per_h = (self.sim.dropout_probability / 2) * 3600.0 / GAP_MEAN_S
        out = []
        for _ in range(rng.poisson(rate_per_h)):
            start = h * HOUR_NS + int(rng.uniform(0, HOUR_NS))
            out.append((start, start + int(rng.exponential(GAP_MEAN_S) * NS_PER_S) + NS_PER_S))
        return tuple(out)

    @memo
    def _gaps_touching_hour(self, h: int) -> tuple[tuple[int, int], ...]:
        a, b = h * HOUR_NS, (h + 1) * HOUR_NS
        return tuple(
            g for k in range(h - 6, h + 1) for g in self._gaps_in_hour(k) if g[1] > a and g[0] < b
        )

    def gaps(self, t0_ns: int, t1_ns: int) -> list[tuple[int, int]]:
        """Gateway outages overlapping [t0, t1) (none lasts beyond a few hours)."""
        found = {
            g
            for h in range(t0_ns // HOUR_NS, (t1_ns - 1) // HOUR_NS + 1)
            for g in self._gaps_touching_hour(h)
        }
        return sorted(g for g in found if g[1] > t0_ns and g[0] < t1_ns)

    # ------------------------------------------------------------------ stuck sensors
    @memo
    def _stuck_in_hour(self, h: int) -> tuple[StuckEpisode, ...]:
        rng = substream(self.seed, self.asset.index, Stream.STUCK, h)
        rate_per_h = self.sim.stuck_sensor_per_asset_year / (365 * 24)
        candidates = [
            (s.id, c)
            for s in self.asset.sensors
            if s.modality in (Modality.THERMAL, Modality.VIBRATION)
            for c in s.channels
        ]
        out = []
        for _ in range(rng.poisson(rate_per_h) if candidates else 0):
            sensor, channel = candidates[int(rng.integers(len(candidates)))]
            start = h * HOUR_NS + int(rng.uniform(0, HOUR_NS))
            end = start + int(rng.uniform(*STUCK_H) * HOUR_NS)
            out.append(StuckEpisode(self.asset.id, sensor, channel, start, end))
        return tuple(out)

    def stuck(self, t0_ns: int, t1_ns: int) -> list[StuckEpisode]:
        hours = range((t0_ns - int(STUCK_H[1]) * HOUR_NS) // HOUR_NS, t1_ns // HOUR_NS + 1)
        return [
            e
            for h in hours
            for e in self._stuck_in_hour(h)
            if e.end_ns > t0_ns and e.start_ns < t1_ns
        ]

    # ------------------------------------------------------------------ per message
    def _draws(self, sensor_index: int, k: np.ndarray) -> np.ndarray:
        """(n, 4) uniforms for emissions with indices ``k`` (chunking-independent)."""
        out = np.empty((len(k), 4))
        for b in np.unique(k // BLOCK):
            rng = substream(self.seed, self.asset.index, Stream.DISORDER, 2, sensor_index, b)
            block = rng.random((BLOCK, 4))
            sel = k // BLOCK == b
            out[sel] = block[k[sel] % BLOCK]
        return out

    def emissions(
        self, sensor_id: str, sensor_index: int, ts_ns: np.ndarray, k: np.ndarray
    ) -> Emissions:
        """Drops, epochs, sequence numbers, skew, duplicates and delays of one sensor's messages.

        Call once per sensor per chunk, chunks in time order (epochs and seq carry over).
        """
        sim = self.sim
        u = self._draws(sensor_index, k)
        if len(ts_ns) == 0:
            empty = np.zeros(0, dtype=np.int64)
            return Emissions(empty.astype(bool), empty, empty, empty, empty, empty.astype(bool))
        since = self._last_ns.get(sensor_id, int(ts_ns[0]))
        gaps = self.gaps(since, int(ts_ns[-1]) + 1)
        in_gap = np.zeros(len(ts_ns), dtype=bool)
        for a, b in gaps:
            in_gap |= (ts_ns >= a) & (ts_ns < b)
        reboots = np.array(sorted({b for _, b in gaps if b > since}), dtype=np.int64)
        epoch, seq = self._number(sensor_id, ts_ns, in_gap, reboots)
        self._last_ns[sensor_id] = int(ts_ns[-1])
        keep = ~in_gap & (u[:, 0] >= sim.dropout_probability / 2)
        delayed = u[:, 2] < sim.reorder_probability
        delay_ns = np.where(delayed, (5.0 + 55.0 * u[:, 3]) * NS_PER_S, 0).astype(np.int64)
        return Emissions(
            keep=keep,
            header_ts_ns=ts_ns + self.skew_ns[sensor_id],
            publish_ns=ts_ns + delay_ns,
            epoch=epoch,
            seq=seq,
            duplicate=u[:, 1] < sim.duplicate_probability,
        )

    def _number(
        self, sensor_id: str, ts_ns: np.ndarray, in_gap: np.ndarray, reboots: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Boot epoch (unix seconds of the last reboot) and sequence number of each message.

        The sequence number counts every message the sensor produced in its epoch, so an
        isolated drop leaves a visible gap; during an outage nothing is produced.
        """
        seg = np.searchsorted(reboots, ts_ns, side="right")  # (n,) reboots passed, nondecreasing
        made = (~in_gap).astype(np.int64)
        before = np.cumsum(made) - made  # messages produced earlier in this chunk
        first = np.searchsorted(seg, seg, side="left")  # first message of each one's segment
        cur_epoch, cur_seq = self._epochs.get(sensor_id, self.epoch), self._seq[sensor_id]
        seq = before - before[first] + np.where(seg == 0, cur_seq, 0)
        boot_s = np.concatenate([[cur_epoch], reboots // NS_PER_S])
        epoch = boot_s[seg]
        self._seq[sensor_id] = int(seq[-1] + made[-1])
        self._epochs[sensor_id] = int(epoch[-1])
        return epoch, seq
