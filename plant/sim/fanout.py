"""Scale mode: thousands of assets at the benchmark rates, from a few simulated representatives.

The physics simulator produces ~150-250 readings/s per core, enough for the demo and the
200-asset benchmark plant live, but a tenth of what 10,000 assets need (~2,050 readings/s,
DESIGN.md §7). For scale benchmarks, each asset instead replays readings the simulator made for
a representative of its family (``reps_per_family`` assets of each ``[[assets]]`` entry): its
own asset id, a per-sensor phase, the period its config declares, fresh timestamps and sequence
numbers; the values and arrays are real simulator output, repeated across a family. Use it for
throughput and latency, never for model quality. Notes (a few a day) come only if a
representative wrote one during the template span.
"""

from __future__ import annotations

import dataclasses
import heapq
import logging
import time
from collections.abc import Iterator

from plant.config import Asset, PlantConfig
from plant.readings import Header, Reading
from plant.sim.plant import PlantSimulator

log = logging.getLogger(__name__)

NS_PER_S = 1_000_000_000

TemplateKey = tuple[str, str]  # (representative asset id, sensor id)


@dataclasses.dataclass(frozen=True, slots=True)
class Templates:
    """Simulated readings per (representative, sensor), and which representative each asset uses."""

    readings: dict[TemplateKey, list[Reading]]
    rep_of: dict[str, str]  # asset id -> representative asset id

    def for_sensor(self, asset_id: str, sensor_id: str) -> list[Reading]:
        return self.readings.get((self.rep_of[asset_id], sensor_id), [])


def representatives(config: PlantConfig, per_family: int) -> dict[str, str]:
    """Asset id -> the id of its representative: the k-th asset of a family uses rep k % n."""
    families: dict[int, list[Asset]] = {}
    for a in config.resolved_assets:
        families.setdefault(id(a.config), []).append(a)
    out: dict[str, str] = {}
    for members in families.values():
        reps = members[: max(1, per_family)]
        for k, a in enumerate(members):
            out[a.id] = reps[k % len(reps)].id
    return out


def build_templates(
    config: PlantConfig, seed: int, start_ns: int, span_s: float, per_family: int = 2
) -> Templates:
    """Run the simulator for the representatives only, ``span_s`` of plant time."""
    t0 = time.monotonic()
    rep_of = representatives(config, per_family)
    sim = PlantSimulator(config, seed, start_ns, assets=frozenset(rep_of.values()))
    readings: dict[TemplateKey, list[Reading]] = {}
    for r in sim.readings(start_ns + int(span_s * NS_PER_S)):
        readings.setdefault((r.header.asset, r.header.sensor), []).append(r)
    log.info(
        "templates: %d representatives, %d readings over %.0f s of plant time in %.1f s",
        len(set(rep_of.values())),
        sum(map(len, readings.values())),
        span_s,
        time.monotonic() - t0,
    )
    return Templates(readings, rep_of)


def _phase_ns(asset_index: int, sensor_index: int, period_ns: int) -> int:
    """A fixed, well-spread offset inside the period, so assets do not all publish at once."""
    golden = 0.6180339887498949
    return int(((asset_index * 7 + sensor_index) * golden) % 1.0 * period_ns)


def fanout_readings(
    config: PlantConfig, templates: Templates, start_ns: int, until_ns: int, epoch: int = 1
) -> Iterator[Reading]:
    """Every asset's readings in time order, each sensor at its configured period."""
    heap: list[tuple[int, int]] = []
    slots: list[tuple[Asset, str, int, list[Reading]]] = []
    for a in config.resolved_assets:
        for j, s in enumerate(a.sensors):
            found = templates.for_sensor(a.id, s.id)
            if not found:
                continue
            period_ns = int(s.period_s * NS_PER_S)
            heap.append((start_ns + _phase_ns(a.index, j, period_ns), len(slots)))
            slots.append((a, s.id, period_ns, found))
    heapq.heapify(heap)
    seqs = [0] * len(slots)
    while heap and heap[0][0] < until_ns:
        due_ns, i = heap[0]
        asset, sensor, period_ns, found = slots[i]
        heapq.heapreplace(heap, (due_ns + period_ns, i))
        seq = seqs[i]
        seqs[i] = seq + 1
        template = found[seq % len(found)]
        header = Header(asset.id, sensor, due_ns, epoch, seq, template.header.quality)
        yield dataclasses.replace(template, header=header)
