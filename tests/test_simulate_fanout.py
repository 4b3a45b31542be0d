"""Scale mode: every asset publishes at its configured periods, from real simulated readings."""

from __future__ import annotations

import collections
from pathlib import Path

from plant import codec
from plant.config import load_config
from plant.sim import fanout
from plant.sim.publisher import TopicMap

REPO = Path(__file__).resolve().parent.parent
START_NS = 1_795_000_000 * 10**9


def test_fanout_gives_every_asset_its_configured_rates_and_distinct_headers() -> None:
    config = load_config(REPO / "configs" / "benchmark.toml").multiplied(2)  # 400 assets
    templates = fanout.build_templates(config, 3, START_NS, 600.0, per_family=2)
    span_s = 1200
    out = list(fanout.fanout_readings(config, templates, START_NS, START_NS + span_s * 10**9))
    assert [r.header.ts_ns for r in out] == sorted(r.header.ts_ns for r in out)
    per_sensor = collections.Counter((r.header.asset, r.header.sensor) for r in out)
    keys = {r.header.dedup_key for r in out}
    assert len(keys) == len(out)  # no two readings share a dedup key
    for a in config.resolved_assets:
        for s in a.sensors:
            n = per_sensor.get((a.id, s.id), 0)
            if not templates.for_sensor(a.id, s.id):
                assert n == 0  # its representative never published this sensor (absent modality)
            elif s.period_s > span_s:  # e.g. notes every 8 h: once at most, by its phase
                assert n <= 1
            else:
                assert n == span_s // s.period_s, (a.id, s.id)
    assert len({r.header.asset for r in out}) == 400
    tm = TopicMap(config)
    for r in out[:: max(1, len(out) // 200)]:  # they encode and decode like any reading
        t = tm.topic(r)
        assert codec.decode(r.header.asset, r.header.sensor, r.modality, codec.encode(r)) == r
        assert f"/{r.header.asset}/{r.header.sensor}/" in t


def test_representatives_are_of_the_same_family() -> None:
    config = load_config(REPO / "configs" / "benchmark.toml")
    reps = fanout.representatives(config, 3)
    assert reps["PA-017"] in {"PA-001", "PA-002", "PA-003"}
    assert reps["GB-035"].startswith("GB-")
    assert len(set(reps.values())) == 15
