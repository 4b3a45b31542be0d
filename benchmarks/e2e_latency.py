"""Publish -> health latency, end to end, and the largest plant that keeps up (DESIGN.md section 7).

For each step of ``--assets`` N1,N2,... (or ``--multiply`` M: the benchmark plant x M = 200 M
assets at the DESIGN rates; N must be a multiple of the plant's 200): Mosquitto on a
free loopback port, ``plantwatch ingest`` and ``plantwatch serve`` (ingest, scoring and alarms)
on a fresh store and a registry holding ``--model``, a health subscriber, then
``plantwatch simulate --templates --multiply M`` in real time (speedup 1) for ``--duration`` plant
seconds. Latency = arrival of the health event at the subscriber - the window's time (the
triggering reading's timestamp on the ingest host's clock, the simulator publishing at that
time), over events after ``--warmup`` s from the first health event. A plant keeps up when
p99 <= 1 s and serve scored its windows (health events >= 95 % of the model-input readings
published, or of the plant's declared rates if fewer; a thermal reading before any process
context of its asset cannot be scored, ~1 per asset at start). CPU seconds per wall
second of broker, publisher, ingest and serve are read from /proc/<pid>/stat over the measured
span. Lag: the publisher's worst delay behind its real-time schedule (from its log), and serve's
(p50 and p99 latency per 10-s slice of the measured span: a plant that does not keep up shows
them growing, ``latency_growth_s`` = last slice's p50 - first's). ``serve_start_s``: from
launch to "serving:" (compiling every bucket at the plant's cache size; the XLA cache in
$TMPDIR/plantwatch-e2e-xla makes a second start fast).

    .venv/bin/python benchmarks/e2e_latency.py --assets 1000,2000,5000 --json FILE

``--model``: a model directory; default /work/main/data/BEST_MODEL's, else required.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from models.registry import linked_registry
from plant.broker.mosquitto import MosquittoBroker, MosquittoSettings
from plant.config import load_config
from plant.mqtt import BrokerUrl, connect, make_client

REPO = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_s(pid: int) -> float:
    """utime + stime of a process and its reaped children, seconds (from /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / TICKS


def default_model() -> Path | None:
    best = REPO / "data" / "BEST_MODEL"
    return Path(best.read_text().strip()) if best.is_file() else None


class HealthCollector:
    def __init__(self, url: str) -> None:
        self.events: list[tuple[int, int, int]] = []  # (arrival ns, window ts ns, scored ns)
        self.triggers: list[str] = []  # each event's trigger modality ("" for none)
        broker = BrokerUrl.parse(url)
        self.client = make_client(broker)
        self.client.on_message = self._on
        connect(self.client, broker)
        self.client.subscribe("plantwatch/v1/health/#", qos=1)

    def _on(self, _c: object, _u: object, msg: object) -> None:
        now = time.time_ns()
        doc = json.loads(msg.payload)  # type: ignore[attr-defined]
        self.events.append((now, doc["ts_ns"], doc["scored_ns"]))
        self.triggers.append(doc.get("trigger") or "")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def wait_log(path: Path, text: str, proc: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if text in path.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            raise RuntimeError(f"{path.name} exited: {path.read_text()[-2000:]}")
        time.sleep(0.5)
    raise TimeoutError(f"{text!r} not in {path} after {timeout_s} s")


def run_once(args: argparse.Namespace, multiply: int, model: Path) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="e2e-"))
    procs: dict[str, subprocess.Popen] = {}
    try:
        port = free_port()
        broker = MosquittoBroker(MosquittoSettings(port, "127.0.0.1", tmp / "broker"))
        broker.start()
        url = f"mqtt://127.0.0.1:{port}"
        plant = tmp / "plant.toml"
        text = args.config.read_text() + f'\n[store]\npath = "{tmp / "store"}"\n'
        text += f'\n[alarms]\njournal_path = "{tmp / "alarms.sqlite"}"\n'
        text += f'users_path = "{tmp / "users.sqlite"}"\n[alarms.api]\nport = 0\n'
        plant.write_text(text)
        reg = linked_registry(model, tmp)
        py = [sys.executable, "-m", "plant.cli"]
        common = ["--config", str(plant), "--broker", url]
        if multiply > 1:  # serve and ingest must know the multiplied plant's assets
            multiplied = load_config(plant).multiplied(multiply)
            common = ["--config", str(_write_multiplied(multiplied, plant, tmp)), "--broker", url]
        env = dict(os.environ, PLANTWATCH_ADMIN_PASSWORD="bench admin pw")
        xla = Path(tempfile.gettempdir()) / "plantwatch-e2e-xla"  # compiled once, reused
        serve_args = ["--registry", str(reg), "--xla-cache", str(xla)]
        for name, extra in (("ingest", []), ("serve", serve_args)):
            log = (tmp / f"{name}.log").open("w")
            procs[name] = subprocess.Popen(
                [*py, name, *common, *extra], cwd=REPO, env=env, stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        t_start = time.monotonic()
        wait_log(tmp / "serve.log", "serving:", procs["serve"], args.start_timeout)
        serve_start_s = time.monotonic() - t_start
        # This process only collects: its own full garbage collections over a growing list
        # of events would delay the arrival stamps (a measured latency serve did not cause).
        gc.collect()
        gc.disable()
        health = HealthCollector(url)
        sim_log = (tmp / "simulate.log").open("w")
        procs["simulate"] = subprocess.Popen(
            [*py, "simulate", "--config", str(plant), "--broker", url, "--templates",
             "--multiply", str(multiply), "--speedup", "1", "--duration", str(args.duration),
             "--seed", "1"],
            cwd=REPO, stdout=sim_log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        pids = {"broker": broker.proc.pid, **{k: p.pid for k, p in procs.items()}}
        first_deadline = time.monotonic() + 300  # the publisher's start-up is not warm-up
        while not health.events and time.monotonic() < first_deadline:
            time.sleep(0.2)
        time.sleep(args.warmup)
        cpu0, t0 = {k: cpu_s(p) for k, p in pids.items()}, time.monotonic()
        warm_ns = time.time_ns()
        cpu1 = dict(cpu0)
        cpu_trace: list[tuple[int, dict[str, float]]] = []
        while procs["simulate"].poll() is None:  # read /proc while the publisher still runs
            cpu1 = {k: cpu_s(p) for k, p in pids.items()}
            cpu_trace.append((time.time_ns(), {**cpu1, "machine_busy": machine_busy_s()}))
            time.sleep(0.5)
        span = time.monotonic() - t0
        time.sleep(3.0)  # the last windows
        health.close()
        published = _published(tmp / "simulate.log")
        measured = [(a, ts) for a, ts, _ in health.events if a >= warm_ns]
        lat = np.array([(a - ts) / 1e9 for a, ts in measured])
        slices = _slices(measured, warm_ns, 10 * 10**9)
        scored = np.array([(a - sc) / 1e9 for a, _, sc in health.events if a >= warm_ns])
        config = load_config(plant).multiplied(multiply)
        inputs_per_s = sum(
            1.0 / s.period_s
            for a in config.resolved_assets
            for s in a.sensors
            if s.modality.value != "context"
        )
        expected = inputs_per_s * args.duration
        # what the publisher sent: a representative with a dead sensor in its template span
        # leaves that sensor silent on every asset that replays it (plant.sim.fanout)
        inputs_published = _published_inputs(tmp / "simulate.log")
        result = {
            "assets": len(config.resolved_assets),
            "multiply": multiply,
            "duration_s": args.duration,
            "published_messages": published,
            "model_input_readings_expected": round(expected),
            "model_input_readings_published": inputs_published,
            "health_events": len(health.events),
            "measured_events": int(lat.size),
            "latency_p50_s": float(np.percentile(lat, 50)) if lat.size else None,
            "latency_p99_s": float(np.percentile(lat, 99)) if lat.size else None,
            "latency_max_s": float(lat.max()) if lat.size else None,
            "health_delivery_p50_s": float(np.percentile(scored, 50)) if scored.size else None,
            "latency_p50_p99_per_10s": slices,
            "latency_growth_s": round(slices[-1][0] - slices[0][0], 3) if slices else None,
            "publisher_worst_lag_s": _worst_lag(tmp / "simulate.log"),
            "serve_start_s": round(serve_start_s, 1),
            "stream_compiles": _stream_compiles(tmp / "serve.log"),
            "cpu_cores": {k: round((cpu1[k] - cpu0[k]) / span, 3) for k in pids},
        }
        if args.timeline is not None:  # where the slow events came from, to read offline
            _write_timeline(args.timeline, len(config.resolved_assets), health, cpu_trace)
        result["keeps_up"] = bool(
            lat.size
            and result["latency_p99_s"] <= 1.0
            and len(health.events) >= 0.95 * min(expected, inputs_published or expected)
        )
        return result
    finally:
        gc.enable()  # the next plant size (or the caller) collects again, even after an error
        for p in procs.values():
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
        with contextlib.suppress(Exception):
            broker.stop()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp}", file=sys.stderr)


def machine_busy_s() -> float:
    """CPU seconds the whole machine spent not idle (all cores, from /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / TICKS  # less idle and iowait


def _write_timeline(path: Path, assets: int, health: HealthCollector, trace: list) -> None:
    """``--timeline``: every health event (arrival, window time, scored time, trigger) and the
    processes' cumulative CPU seconds every 0.5 s, as one JSON file per plant size."""
    out = path.with_name(f"{path.stem}-{assets}{path.suffix}")
    doc = {
        "events": [[*e, t] for e, t in zip(health.events, health.triggers, strict=True)],
        "cpu": [[t, c] for t, c in trace],
    }
    out.write_text(json.dumps(doc))


def _write_multiplied(config: object, plant: Path, tmp: Path) -> Path:
    """serve/ingest read a TOML: the multiplied plant is the same file with the counts scaled."""
    text = plant.read_text()
    factor = len(config.resolved_assets) // len(load_config(plant).resolved_assets)  # type: ignore[attr-defined]
    scaled = re.sub(r"^count = (\d+)", lambda m: f"count = {int(m.group(1)) * factor}", text,
                    flags=re.M)  # fmt: skip
    out = tmp / "plant-multiplied.toml"
    out.write_text(scaled)
    return out


def _slices(events: list[tuple[int, int]], t0: int, step: int) -> list[tuple[float, float]]:
    """(p50, p99) latency, seconds, of the events arriving in each ``step`` ns after ``t0``."""
    by: dict[int, list[float]] = {}
    for a, ts in events:
        by.setdefault((a - t0) // step, []).append((a - ts) / 1e9)
    return [
        (round(float(np.percentile(v, 50)), 3), round(float(np.percentile(v, 99)), 3))
        for _, v in sorted(by.items())
        if len(v) >= 10
    ]


def _worst_lag(log: Path) -> float | None:
    found = re.findall(r"published \d+ messages in all.*?worst lag ([\d.]+) s", log.read_text())
    return float(found[-1]) if found else None


def _stream_compiles(log: Path) -> int:
    """XLA compilations serve waited for while streaming (its warnings; 0 is the goal)."""
    return log.read_text(errors="replace").count("the stream waited")


def _published_inputs(log: Path) -> int | None:
    """Model-input readings (all but process context) the publisher sent, from its summary
    line: the messages in all times the non-context share of its per-modality rates."""
    found = re.findall(r"published (\d+) messages in all: [^(]*\(([^)]*)\)", log.read_text())
    if not found:
        return None
    total, rates = found[-1]
    per = {k: float(v) for k, v in re.findall(r"(\w+) ([\d.]+)/s", rates)}
    if not sum(per.values()):
        return None
    return round(int(total) * (1 - per.get("context", 0.0) / sum(per.values())))


def _published(log: Path) -> int:
    found = re.findall(r"published (\d+) messages in all", log.read_text())
    return int(found[-1]) if found else -1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", type=Path, default=REPO / "configs" / "benchmark.toml")
    p.add_argument("--model", type=Path, default=None)
    p.add_argument("--multiply", type=int, nargs="+", default=None)
    p.add_argument(
        "--assets", default=None, help="comma-separated plant sizes, multiples of the plant's"
    )
    p.add_argument("--start-timeout", type=float, default=1800.0, help="seconds for serve")
    p.add_argument("--duration", type=float, default=90.0, help="plant (= wall) seconds")
    p.add_argument("--warmup", type=float, default=20.0, help="seconds not measured")
    p.add_argument("--json", type=Path)
    p.add_argument("--keep", action="store_true", help="keep the temp dirs (logs)")
    p.add_argument("--timeline", type=Path, help="events and CPU over time, JSON per size")
    args = p.parse_args()
    model = args.model or default_model()
    if model is None:
        p.error("no --model and no data/BEST_MODEL")
    base = len(load_config(args.config).resolved_assets)
    steps = args.multiply or [1]
    if args.assets:
        sizes = [int(x) for x in args.assets.split(",")]
        if any(n % base for n in sizes):
            p.error(f"--assets: each size must be a multiple of the plant's {base} assets")
        steps = [n // base for n in sizes]
    results = {"model": str(model), "runs": []}
    for m in steps:
        r = run_once(args, m, model)
        print(json.dumps(r), flush=True)
        results["runs"].append(r)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
