"""Serve's CPU cost per reading, without a broker: where the worker's time goes.

The multiplied benchmark plant (``--assets`` N, DESIGN.md section 7 rates, ``--templates`` fan-out
as ``plantwatch simulate --templates`` publishes it) is encoded to MQTT payloads ahead of time;
then ``--seconds`` of plant time go through serve's worker path (``ScoringService.process``:
validation, window assembly, scoring, explanations where due, the alarm engine, health-event
JSON and a publish call on a counting client) in bursts of ``--burst-ms`` of plant time, as the
worker drains them in real time. The first ``--warmup`` plant seconds are not measured (every
asset's first windows, the caches). Reported: worker CPU seconds per message and per window
(``time.process_time`` of this process, so run it on a quiet machine or read it with the load),
the real-time headroom at this plant size (plant seconds per CPU second: > 1 keeps up on one
core), events, batches; ``--profile FILE`` writes a cProfile of the measured part (pstats).

    .venv/bin/python benchmarks/serve_profile.py --assets 1000 --seconds 60 --profile /tmp/p.prof
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from models.registry import linked_registry
from models.serving.service import ScoringService, ServeSettings
from plant import codec
from plant.alarms.engine import AlarmEngine
from plant.config import load_config
from plant.readings import Modality
from plant.sim import fanout
from plant.sim.publisher import TopicMap

REPO = Path(__file__).resolve().parent.parent
S = 1_000_000_000


class CountingClient:
    """Stands in for paho: counts publishes and bytes (paho's own cost is not measured)."""

    def __init__(self) -> None:
        self.published = 0
        self.bytes = 0

    def publish(self, topic: str, payload: bytes | str, qos: int = 0, retain: bool = False):
        self.published += 1
        self.bytes += len(payload)


def messages(config, start: int, seconds: float, seed: int = 1) -> list[tuple[str, bytes, int]]:
    span_s = max(
        min(s.period_s, 3600.0)
        for a in config.resolved_assets
        for s in a.sensors
        if s.modality is not Modality.NOTES
    )
    templates = fanout.build_templates(config, seed, start, span_s)
    topic_of = TopicMap(config)
    until = start + int(seconds * S)
    return [
        (topic_of.topic(r), codec.encode(r), r.header.ts_ns)
        for r in fanout.fanout_readings(config, templates, start, until, start // S)
    ]


def _kinds(alarms: list[dict]) -> dict[str, int]:
    out: dict[str, int] = {}
    for a in alarms:
        out[a["kind"]] = out.get(a["kind"], 0) + 1
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", type=Path, default=REPO / "configs" / "benchmark.toml")
    p.add_argument("--model", type=Path, default=None)
    p.add_argument("--assets", type=int, default=1000)
    p.add_argument("--seconds", type=float, default=60.0, help="plant seconds measured")
    p.add_argument("--warmup", type=float, default=30.0, help="plant seconds not measured")
    p.add_argument("--burst-ms", type=float, default=50.0)
    p.add_argument("--max-batch", type=int, default=1024)
    p.add_argument("--profile", type=Path, default=None)
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    model = args.model
    if model is None:
        model = Path((REPO / "data" / "BEST_MODEL").read_text().strip())
    import jax

    jax.config.update(
        "jax_compilation_cache_dir", str(Path(tempfile.gettempdir()) / "plantwatch-e2e-xla")
    )
    base = load_config(args.config)
    n0 = len(base.resolved_assets)
    if args.assets % n0:
        p.error(f"--assets must be a multiple of {n0}")
    config = base.multiplied(args.assets // n0)
    tmp = Path(tempfile.mkdtemp(prefix="serve-profile-"))
    raw = config.model_dump(mode="json")
    raw["alarms"]["journal_path"] = str(tmp / "alarms.sqlite")
    config = type(config).model_validate(raw)
    start = (time.time_ns() // S - 3600) * S
    t0 = time.monotonic()
    msgs = messages(config, start, args.warmup + args.seconds)
    print(f"{len(msgs)} messages built in {time.monotonic() - t0:.1f} s", flush=True)
    now = [start]
    engine = AlarmEngine(config, tmp / "alarms.sqlite", clock=lambda: now[0], batch=1000)
    reg = linked_registry(model, tmp)
    client = CountingClient()
    service = ScoringService(
        config,
        ServeSettings(registry=reg, max_batch=args.max_batch),
        client=client,  # type: ignore[arg-type]
        engine=engine,
        clock=lambda: now[0],
    )
    t0 = time.monotonic()
    service.poll_model(block=True)
    print(f"model loaded in {time.monotonic() - t0:.1f} s", flush=True)
    burst = int(args.burst_ms * 1e6)
    warm_end = start + int(args.warmup * S)
    next_tick = [start]

    bursts_s: list[tuple[float, float]] = []  # (plant second, wall seconds in process)
    ticks_s: list[float] = []

    def feed(part: list[tuple[str, bytes, int]]) -> int:
        i = n = 0
        while i < len(part):
            t_end = part[i][2] + burst
            j = i
            while j < len(part) and part[j][2] < t_end:
                j += 1
            now[0] = part[j - 1][2]
            b0 = time.perf_counter()
            service.process(part[i:j])
            b1 = time.perf_counter()
            bursts_s.append(((now[0] - start) / S, b1 - b0))
            if now[0] >= next_tick[0]:  # AlarmService ticks every 5 s
                engine.tick(now[0])
                next_tick[0] = now[0] + 5 * S
                ticks_s.append(time.perf_counter() - b1)
            n += 1
            i = j
        return n

    service._worker = threading.current_thread()  # compilations here count as stream stalls
    split = next((k for k, m in enumerate(msgs) if m[2] >= warm_end), len(msgs))
    feed(msgs[:split])
    measured = msgs[split:]
    before = (service.stats.windows, service.stats.events, service.stats.explanations)
    prof = cProfile.Profile() if args.profile else None
    c0, w0 = time.process_time(), time.monotonic()
    if prof is not None:
        prof.enable()
    bursts_s.clear()
    ticks_s.clear()
    bursts = feed(measured)
    if prof is not None:
        prof.disable()
    cpu, wall = time.process_time() - c0, time.monotonic() - w0
    windows = service.stats.windows - before[0]
    events = service.stats.events - before[1]
    result = {
        "model": str(model),
        "assets": len(config.resolved_assets),
        "plant_seconds": args.seconds,
        "burst_ms": args.burst_ms,
        "messages": len(measured),
        "windows": windows,
        "events": events,
        "explanations": service.stats.explanations - before[2],
        "bursts": bursts,
        "cpu_s": round(cpu, 2),
        "wall_s": round(wall, 2),
        "cpu_ms_per_message": round(1000 * cpu / max(1, len(measured)), 3),
        "cpu_ms_per_window": round(1000 * cpu / max(1, windows), 3),
        "realtime_headroom": round(args.seconds / cpu, 2) if cpu else None,
        # a slow burst is a latency spike in the live service: the worker's pauses
        "burst_ms_p50_p99_max": [
            round(1000 * float(np.percentile([b for _, b in bursts_s], q)), 1)
            for q in (50, 99, 100)
        ],
        "slowest_bursts_at_plant_s_ms": [
            [round(t, 1), round(1000 * b, 1)] for t, b in sorted(bursts_s, key=lambda x: -x[1])[:8]
        ],
        "alarm_tick_ms_max": round(1000 * max(ticks_s, default=0.0), 1),
        "stream_compiles": service.stats.stream_compiles,
        "alarms_by_kind": _kinds(engine.list_alarms()),
    }
    print(json.dumps(result, indent=1), flush=True)
    if prof is not None:
        prof.dump_stats(str(args.profile))
        st = pstats.Stats(prof)
        st.sort_stats("cumulative").print_stats(45)
        st.sort_stats("tottime").print_stats(30)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    engine.close() if hasattr(engine, "close") else None
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
