"""Ingest throughput vs its two ceilings, measured in the same run (DESIGN.md section 7).

    nice -n 10 .venv/bin/python benchmarks/ingest_throughput.py [--scalars 40000]
        [--snapshots 3000] [--repeat 3] [--workloads scalar,vibration] [--profile]
        [--json out.json]

Per workload (small scalar messages: thermal JSON ~150 B; vibration snapshots: 3 x 12,800
float32, ~154 kB), each repeat starts a fresh Mosquitto and measures:

- ``bare``: a paho subscriber that only counts (QoS 1, automatic acks), in its own process,
  with the same PUBLISH decoding as ingest's consumer (``ingest.consumer.decode_publish``);
- ``ingest``: ``IngestService`` (validate, dedup, WAL + fsync, then ack), in its own process;
  then, after the last message is durable, the time to checkpoint everything into Parquet
  (``ingest_to_parquet_msgs_per_s``: messages / (durable + checkpoint time); the service's
  checkpointer runs every 10 s, so in a run shorter than that it does not overlap the run);
- ``parquet``: pyarrow writing the same readings through the store's StoreWriter, no MQTT
  (``benchmarks/store_write.py`` ``measure_parquet_ceiling``).

The same publisher process sends the same pre-encoded payloads (QoS 1, 1,000 in flight) for
``bare`` and ``ingest``; a rate is messages / (last one consumed, or durable - publisher start).
The ratio is ingest / min(bare, parquet). CPU seconds of broker, publisher and consumer come
from /proc/<pid>/stat (utime + stime). Medians of ``--repeat`` runs are reported. 3,000
snapshots (~460 MB, a few seconds) by default: the 800 used before lasted under a second, and
the ratio of one such run swung between 0.46 and 1.18 on this machine. ``--profile`` adds the
ingest worker's stage times (wall, GIL waits included) and the CPU seconds of each of its threads.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from plant import codec, topics  # noqa: E402
from plant.config import PlantConfig, load_config  # noqa: E402
from plant.readings import Header, Reading, ThermalReading, VibrationSnapshot  # noqa: E402

BENCH_TOML = REPO / "configs" / "benchmark.toml"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int | str = "self") -> float:
    """utime + stime of a process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def workload(name: str, n: int, t0_ns: int, plant: PlantConfig) -> list[tuple[str, Reading]]:
    """``n`` readings of the benchmark plant's assets, times from ``t0_ns`` (deterministic)."""
    assets = plant.resolved_assets
    rng = np.random.default_rng(0)
    out = []
    base = rng.normal(0, 1, (3, 12_800)).astype(np.float32)
    for i in range(n):
        a = assets[i % len(assets)]
        seq = i // len(assets)
        if name == "scalar":
            h = Header(a.id, "temp", t0_ns + seq * 10**7, 1, seq)
            t = 40.0 + (i % 17) * 0.5
            values = {"bearing_de": t, "bearing_nde": t - 2, "winding": t + 9}
            r: Reading = ThermalReading(h, values)
            sensor, modality = "temp", "thermal"
        else:
            h = Header(a.id, "vib-de", t0_ns + seq * 10**7, 1, seq)
            r = VibrationSnapshot(h, 12_800.0, ("x", "y", "z"), np.roll(base, i * 7, axis=1))
            sensor, modality = "vib-de", "vibration"
        out.append((topics.reading_topic(a.site, a.area, a.id, sensor, modality), r))
    return out


# ---------------------------------------------------------------------------- child roles


def role_publish(args: argparse.Namespace) -> None:
    from plant.mqtt import BrokerUrl, connect, make_client

    plant = load_config(BENCH_TOML)
    items = [(t, codec.encode(r)) for t, r in workload(args.workload, args.n, args.t0, plant)]
    url = BrokerUrl.parse(args.url)
    client = make_client(url, client_id="bench-publisher", max_inflight=1000)
    connect(client, url)
    cpu0, start = cpu_s(), time.time_ns()
    infos = [client.publish(t, p, qos=1) for t, p in items]
    for info in infos:
        info.wait_for_publish(120)
    end = time.time_ns()
    client.disconnect()
    client.loop_stop()
    print(json.dumps({"start_ns": start, "end_ns": end, "cpu_s": cpu_s() - cpu0}), flush=True)


def role_count(args: argparse.Namespace) -> None:
    from ingest.consumer import use_fast_publish_decode
    from plant.mqtt import BrokerUrl, connect, make_client

    use_fast_publish_decode()  # the same paho receive path as ingest's consumer
    url = BrokerUrl.parse(args.url)
    client = make_client(url, client_id="bench-counter")
    done, count, last = threading.Event(), [0], [0]

    def on_message(c: object, u: object, msg: object) -> None:
        count[0] += 1
        if count[0] >= args.n:
            last[0] = time.time_ns()
            done.set()

    client.on_message = on_message
    connect(client, url)
    client.subscribe(topics.shared("bench", topics.readings_filter()), qos=1)
    time.sleep(0.5)
    cpu0 = cpu_s()
    print("ready", flush=True)
    done.wait(600)
    print(json.dumps({"last_ns": last[0], "cpu_s": cpu_s() - cpu0, "count": count[0]}), flush=True)
    client.disconnect()
    client.loop_stop()


class StageTimer:
    """Wall seconds in wrapped callables (``--profile``): where an ingest batch's time goes."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def wrap(self, obj: object, attr: str, name: str) -> None:
        inner = getattr(obj, attr)

        def timed(*a: object, **kw: object) -> object:
            t = time.perf_counter()
            try:
                return inner(*a, **kw)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t
                self.calls[name] = self.calls.get(name, 0) + 1

        setattr(obj, attr, timed)


PROFILE_KEYS = ("lag_s", "stages_s", "stage_calls", "thread_cpu_s", "checkpointed")


def thread_cpu_s() -> dict[str, float]:
    """CPU seconds (user + system) of each live thread of this process, by thread name."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    out: dict[str, float] = {}
    for task in Path("/proc/self/task").iterdir():
        name = names.get(int(task.name), f"tid-{task.name}")
        try:
            out[name] = out.get(name, 0.0) + cpu_s(f"self/task/{task.name}")
        except FileNotFoundError:
            continue
    return out


def _instrument(svc: object, timer: StageTimer) -> None:
    """Time the worker's stages (wall seconds, GIL waits included)."""
    w = svc.writer  # type: ignore[attr-defined]
    timer.wrap(svc, "_next_batch", "worker: wait for batch")
    timer.wrap(w, "_classify", "worker: decode + validate")
    timer.wrap(w.dedup, "known", "worker: dedup lookup")
    timer.wrap(w.dedup, "commit", "sync: dedup commit")
    timer.wrap(w.wal, "append_many", "worker: WAL append")
    timer.wrap(w.wal, "_rotate_locked", "worker: WAL seal segment (inside append)")
    import ingest.store.wal as wal_module

    timer.wrap(wal_module, "_record_head", "worker: WAL record heads + CRC (inside append)")
    timer.wrap(wal_module, "_write_all", "worker: WAL writev (inside append)")
    timer.wrap(w.wal, "sync", "sync: WAL fsync")
    timer.wrap(w.dead, "sync", "sync: dead-letter fsync")
    timer.wrap(svc.syncer, "ack", "sync: PUBACKs")  # type: ignore[attr-defined]
    timer.wrap(svc.flusher, "flush_now", "checkpointer: WAL -> Parquet")  # type: ignore[attr-defined]


def role_ingest(args: argparse.Namespace) -> None:
    from ingest.service import IngestService

    plant = load_config(BENCH_TOML).multiplied(args.multiply)
    store = Path(args.store)
    svc = IngestService(plant, store, broker=args.url, worker="bench")
    timer = StageTimer()
    if args.profile:
        _instrument(svc, timer)
    m = svc.metrics
    done, last, lags = threading.Event(), [0], []
    on_stored, on_dead_letter = m.on_stored, m.on_dead_letter

    def check() -> None:  # no polling loop competing for the GIL: told by the metrics
        if not done.is_set() and m.stored + m.duplicates + sum(m.dead_letters.values()) >= args.n:
            last[0] = time.time_ns()
            done.set()

    def stored(headers: list, nbytes: int, duplicates: int, lag_ns: int) -> None:
        on_stored(headers, nbytes, duplicates, lag_ns)
        lags.append(lag_ns / 1e9)  # arrival of the batch's first message -> durable
        check()

    def dead_letter(reason: str) -> None:
        on_dead_letter(reason)
        check()

    m.on_stored, m.on_dead_letter = stored, dead_letter  # type: ignore[method-assign]
    stop = threading.Event()
    thread = threading.Thread(target=svc.run, args=(stop,))
    thread.start()
    while not svc.consumer.subscribed.is_set():
        time.sleep(0.01)
    cpu0, threads0 = cpu_s(), thread_cpu_s()
    print("ready", flush=True)
    done.wait()
    out = {"last_ns": last[0], "cpu_s": cpu_s() - cpu0, "stored": m.stored}
    # Then everything into Parquet (the checkpointer runs every 10 s; a run is shorter).
    t = time.perf_counter()
    svc.flusher.flush_now()
    out["checkpoint_s"] = time.perf_counter() - t
    out["checkpointed"] = svc.flusher.stats.readings
    if lags:
        p50, p99 = np.percentile(lags, [50, 99])
        out["lag_s"] = {"p50": float(p50), "p99": float(p99), "max": max(lags)}
    out["dead_letters"] = dict(m.dead_letters)
    if args.profile:
        out["stages_s"] = {k: round(v, 4) for k, v in timer.seconds.items()}
        out["stage_calls"] = timer.calls
        threads = thread_cpu_s()
        out["thread_cpu_s"] = {k: round(v - threads0.get(k, 0.0), 3) for k, v in threads.items()}
    stop.set()
    thread.join()
    print(json.dumps(out), flush=True)


# ---------------------------------------------------------------------------- orchestration


def _child(role: str, **kw: object) -> subprocess.Popen:
    cmd = [sys.executable, __file__, "--role", role]
    for k, v in kw.items():
        if v is True:
            cmd.append(f"--{k}")
        elif v is not False and v is not None:
            cmd += [f"--{k}", str(v)]
    from plant.broker.mosquitto import die_with_parent

    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, text=True, cwd=REPO, preexec_fn=die_with_parent
    )


def _last_json(proc: subprocess.Popen) -> dict:
    out, _ = proc.communicate(timeout=900)
    return json.loads(out.strip().splitlines()[-1])


def measure_mqtt(consumer_role: str, url: str, wl: str, n: int, broker_pid: int, **kw) -> dict:
    t0 = time.time_ns()
    consumer = _child(consumer_role, url=url, workload=wl, n=n, t0=t0, **kw)
    assert consumer.stdout is not None
    assert consumer.stdout.readline().strip() == "ready", "consumer did not start"
    broker_cpu0 = cpu_s(broker_pid)
    pub = _last_json(_child("publish", url=url, workload=wl, n=n, t0=t0))
    got = _last_json(consumer)
    seconds = (got["last_ns"] - pub["start_ns"]) / 1e9
    return {
        "seconds": seconds,
        "messages_per_s": n / seconds,
        # the publisher's last PUBACK from the broker; a consumer finishing much later is behind
        "publish_s": (pub["end_ns"] - pub["start_ns"]) / 1e9,
        "cpu_s": {"broker": cpu_s(broker_pid) - broker_cpu0, "publisher": pub["cpu_s"]}
        | {"consumer": got["cpu_s"]},
        **{k: v for k, v in got.items() if k not in ("last_ns", "cpu_s")},
    }


def run_once(
    wl: str, n: int, readings: list[Reading], payload_bytes: int, profile: bool = False
) -> dict:
    from benchmarks.store_write import measure_parquet_ceiling
    from plant.broker.mosquitto import MosquittoBroker, MosquittoSettings
    from tests.fixtures.brokers import free_port

    with tempfile.TemporaryDirectory(prefix="pw-ingest-bench-") as tmp:
        broker = MosquittoBroker(MosquittoSettings(free_port(), "127.0.0.1", Path(tmp) / "mq"))
        broker.start()
        try:
            bare = measure_mqtt("count", broker_url(broker), wl, n, broker.pid)
            ingest = measure_mqtt(
                "ingest",
                broker_url(broker),
                wl,
                n,
                broker.pid,
                store=Path(tmp) / "store",
                profile=profile,
            )
        finally:
            broker.stop()
    cpu0 = cpu_s()  # this process does nothing else meanwhile (pyarrow's threads included)
    parquet = measure_parquet_ceiling(readings, wl, payload_bytes=payload_bytes)
    cpu_parquet = cpu_s() - cpu0
    mb = payload_bytes / 1e6
    limit = min(bare["messages_per_s"], parquet.messages_per_s)
    to_parquet_s = ingest["seconds"] + ingest["checkpoint_s"]
    return {
        "bare_msgs_per_s": bare["messages_per_s"],
        "parquet_msgs_per_s": parquet.messages_per_s,
        "ingest_msgs_per_s": ingest["messages_per_s"],
        "ingest_mb_per_s": mb / ingest["seconds"],
        "bare_mb_per_s": mb / bare["seconds"],
        "parquet_mb_per_s": parquet.payload_mb_per_s,
        "ratio": ingest["messages_per_s"] / limit,
        # durable, then checkpointed into Parquet (after the run, not overlapping it)
        "ingest_to_parquet_msgs_per_s": n / to_parquet_s,
        "to_parquet_ratio": n / to_parquet_s / limit,
        "publish_s_bare": bare["publish_s"],
        "publish_s_ingest": ingest["publish_s"],
        "seconds_bare": bare["seconds"],
        "seconds_ingest": ingest["seconds"],
        "cpu_s_bare": bare["cpu_s"],
        "cpu_s_ingest": ingest["cpu_s"],
        "cpu_s_parquet": cpu_parquet,
        "stored": ingest.get("stored"),
        "dead_letters": ingest.get("dead_letters"),
        **{k: v for k, v in ingest.items() if k in PROFILE_KEYS},
    }


def broker_url(broker: object) -> str:
    return f"mqtt://127.0.0.1:{broker.settings.port}"  # type: ignore[attr-defined]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--role", choices=["publish", "count", "ingest"], help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--workload", help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, help=argparse.SUPPRESS)
    p.add_argument("--t0", type=int, help=argparse.SUPPRESS)
    p.add_argument("--store", help=argparse.SUPPRESS)
    p.add_argument("--multiply", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument(
        "--profile", action="store_true", help="time the ingest worker's stages (adds overhead)"
    )
    p.add_argument("--scalars", type=int, default=40_000)
    p.add_argument("--snapshots", type=int, default=3000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument(
        "--workloads", default="scalar,vibration", help="comma-separated: scalar, vibration"
    )
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    if args.role:
        {"publish": role_publish, "count": role_count, "ingest": role_ingest}[args.role](args)
        return
    plant = load_config(BENCH_TOML)
    results = {}
    chosen = set(args.workloads.split(","))
    for wl, n in (("scalar", args.scalars), ("vibration", args.snapshots)):
        if wl not in chosen:
            continue
        readings = [r for _, r in workload(wl, n, time.time_ns(), plant)]
        payload = sum(len(codec.encode(r)) for r in readings)
        runs = [run_once(wl, n, readings, payload, args.profile) for _ in range(args.repeat)]
        del readings
        med = {
            k: statistics.median(r[k] for r in runs)
            for k in runs[0]
            if isinstance(runs[0][k], float)
        }
        results[wl] = {"messages": n, "payload_bytes": payload, "median": med, "runs": runs}
        print(json.dumps({wl: results[wl]["median"]}), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"cpus": os.cpu_count(), "results": results}, indent=1))


if __name__ == "__main__":
    main()
