"""How many benchmark assets one ingest process keeps up with in real time (DESIGN.md section 7).

    nice -n 10 .venv/bin/python benchmarks/ingest_scale.py [--assets 5000 10000 20000]
        [--seconds 20] [--repeat 3] [--json out.json]

For each plant size (configs/benchmark.toml multiplied), a publisher process sends the plant's
real-time stream, paced to the wall clock, for ``--seconds``: per asset a thermal module and
process context every 10 s, a triaxial vibration snapshot (1 s at 12.8 kHz) and a 64x64 image
every 10 min, notes a few a day, with each asset's phase spread evenly. One ingest process
(``IngestService``, a fresh Mosquitto) stores them. It keeps up when everything is durable within
``--max-drain-s`` of the publisher's last message and the batch lag (arrival -> durable) stays
below that bound at p99. Medians of ``--repeat`` runs per size.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from benchmarks.ingest_throughput import BENCH_TOML, cpu_s  # noqa: E402
from plant import codec, topics  # noqa: E402
from plant.config import load_config  # noqa: E402
from plant.readings import (  # noqa: E402
    CameraImage,
    ContextReading,
    Header,
    MachineState,
    OperatorNote,
    ThermalReading,
    VibrationSnapshot,
)

PERIOD_S = {"temp": 10.0, "ctx": 10.0, "vib-de": 600.0, "cam": 600.0, "log": 28_800.0}


def schedule(multiply: int, seconds: float, t0_ns: int) -> list[tuple[float, str, bytes]]:
    """(offset_s, topic, payload) of every message the plant sends in ``seconds``, in order."""
    plant = load_config(BENCH_TOML).multiplied(multiply)
    assets = plant.resolved_assets
    rng = np.random.default_rng(0)
    wave = rng.normal(0, 1, (3, 12_800)).astype(np.float32)
    image = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    out = []
    for i, a in enumerate(assets):
        phase = i / len(assets)
        for sensor, period in PERIOD_S.items():
            s = a.sensor(sensor)
            k = 0
            while (at := (phase + k) * period) < seconds:
                h = Header(a.id, sensor, t0_ns + int(at * 1e9), 1, k)
                r = _reading(sensor, h, wave, image)
                t = topics.reading_topic(a.site, a.area, a.id, sensor, s.modality)
                out.append((at, t, codec.encode(r)))
                k += 1
    out.sort(key=lambda x: x[0])
    return out


def _reading(sensor: str, h: Header, wave: np.ndarray, image: np.ndarray):
    if sensor == "temp":
        return ThermalReading(h, {"bearing_de": 48.0, "bearing_nde": 45.0, "winding": 70.0})
    if sensor == "ctx":
        return ContextReading(h, 24.6, 0.8, 21.0, MachineState.RUNNING)
    if sensor == "vib-de":
        return VibrationSnapshot(h, 12_800.0, ("x", "y", "z"), wave)
    if sensor == "cam":
        return CameraImage(h, image)
    return OperatorNote(h, "DE brg noisy, chk lube", "")


def role_paced_publish(args: argparse.Namespace) -> None:
    from plant.mqtt import BrokerUrl, connect, make_client

    items = schedule(args.multiply, args.seconds, args.t0)
    url = BrokerUrl.parse(args.url)
    client = make_client(url, client_id="bench-plant", max_inflight=1000)
    connect(client, url)
    cpu0, start = cpu_s(), time.monotonic()
    start_ns = time.time_ns()
    infos = []
    for at, topic, payload in items:
        ahead = start + at - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
        infos.append(client.publish(topic, payload, qos=1))
    end_ns = time.time_ns()
    unsent = 0
    for info in infos:
        try:
            info.wait_for_publish(120)
        except (ValueError, RuntimeError):
            unsent += 1  # the publisher itself could not keep up at this rate
    if unsent:
        raise SystemExit(f"publisher could not send {unsent} messages: the machine is saturated")
    client.disconnect()
    client.loop_stop()
    print(json.dumps({"start_ns": start_ns, "end_ns": end_ns, "cpu_s": cpu_s() - cpu0}))


def run_once(assets: int, seconds: float) -> dict:
    from benchmarks.ingest_throughput import _child, _last_json, broker_url
    from plant.broker.mosquitto import MosquittoBroker, MosquittoSettings
    from tests.fixtures.brokers import free_port

    multiply = max(1, assets // 200)
    n = len(schedule(multiply, seconds, 0))
    t0 = time.time_ns()
    with tempfile.TemporaryDirectory(prefix="pw-ingest-scale-") as tmp:
        broker = MosquittoBroker(MosquittoSettings(free_port(), "127.0.0.1", Path(tmp) / "mq"))
        broker.start()
        try:
            url = broker_url(broker)
            ingest = _child("ingest", url=url, n=n, store=Path(tmp) / "s", multiply=multiply)
            assert ingest.stdout is not None and ingest.stdout.readline().strip() == "ready"
            broker_cpu0 = cpu_s(broker.pid)
            pub = _scale_child(url=url, multiply=multiply, seconds=seconds, t0=t0)
            got = _last_json(ingest)
            broker_cpu = cpu_s(broker.pid) - broker_cpu0
        finally:
            if ingest.poll() is None:  # the run failed: end our child by its PID
                ingest.kill()
                ingest.wait()
            broker.stop()
    return {
        "assets": multiply * 200,
        "messages": n,
        "messages_per_s": n / seconds,
        "drain_s": (got["last_ns"] - pub["end_ns"]) / 1e9,
        "lag_s": got.get("lag_s"),
        "cpu_s": {"broker": broker_cpu, "publisher": pub["cpu_s"], "ingest": got["cpu_s"]},
        "dead_letters": got.get("dead_letters"),
    }


def _scale_child(**kw: object) -> dict:
    from plant.broker.mosquitto import die_with_parent

    cmd = [sys.executable, __file__, "--role", "publish"]
    for k, v in kw.items():
        cmd += [f"--{k}", str(v)]
    out = subprocess.run(
        cmd, stdout=subprocess.PIPE, text=True, cwd=REPO, check=True, preexec_fn=die_with_parent
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--role", choices=["publish"], help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--multiply", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--t0", type=int, help=argparse.SUPPRESS)
    p.add_argument("--assets", type=int, nargs="+", default=[5_000, 10_000, 15_000, 20_000])
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--max-drain-s", type=float, default=2.0)
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    if args.role:
        role_paced_publish(args)
        return
    results = []
    for assets in args.assets:
        try:
            runs = [run_once(assets, args.seconds) for _ in range(args.repeat)]
        except subprocess.CalledProcessError as exc:  # the publisher could not keep the pace
            print(json.dumps({"assets": assets, "keeps_up": None, "error": str(exc)}), flush=True)
            break
        drain = statistics.median(r["drain_s"] for r in runs)
        p99 = statistics.median((r["lag_s"] or {}).get("p99", 0.0) for r in runs)
        keeps_up = drain <= args.max_drain_s and p99 <= args.max_drain_s
        summary = {"assets": runs[0]["assets"], "messages_per_s": runs[0]["messages_per_s"]}
        summary |= {"median_drain_s": drain, "median_lag_p99_s": p99, "keeps_up": keeps_up}
        results.append({"summary": summary, "runs": runs})
        print(json.dumps(summary), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"cpus": os.cpu_count(), "results": results}, indent=1))


if __name__ == "__main__":
    main()
