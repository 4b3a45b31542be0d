"""Shared by the ingest tests: readings of a plant, a QoS 1 publisher that knows what the broker
acknowledged, an ingest worker as a real child process, and what ended up in the store."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
import pyarrow.dataset as ds

from ingest.deadletter import unpack
from ingest.schema import DEDUP_KEY
from ingest.store.layout import DEAD_LETTERS, WAL, modality_dir
from ingest.store.reader import StoreReader
from ingest.store.records import table_to_dead_letters
from ingest.store.wal import replay_directory
from ingest.validate import Accepted, Validator
from plant import codec, topics
from plant.config import PlantConfig, load_config
from plant.mqtt import BrokerUrl, connect, make_client
from plant.readings import (
    ContextReading,
    Header,
    MachineState,
    Modality,
    OperatorNote,
    ThermalReading,
    VibrationSnapshot,
)

REPO = Path(__file__).resolve().parent.parent
PLANT_TOML = REPO / "configs" / "plant.toml"


BENCH_TOML = REPO / "configs" / "benchmark.toml"


def plant_config(source: Path = PLANT_TOML) -> PlantConfig:
    return load_config(source)


def write_config(
    tmp: Path, store: Path, broker_url: str, extra: str = "", source: Path = PLANT_TOML
) -> Path:
    """``source`` (the demo plant) pointed at ``store`` and ``broker_url`` (plus ``extra``)."""
    text = source.read_text()
    text += f'\n[broker]\nurl = "{broker_url}"\n\n[store]\npath = "{store}"\n{extra}'
    path = tmp / "plant.toml"
    path.write_text(text)
    return path


def readings(plant: PlantConfig, per_sensor: int, *, vibration_every: int = 0, epoch: int = 7):
    """``(topic, payload, key)`` for ``per_sensor`` readings of each scalar sensor, interleaved;
    with ``vibration_every`` = k, a small vibration snapshot every k-th round per vib sensor."""
    now = time.time_ns()
    out = []
    rng = np.random.default_rng(0)
    for i in range(per_sensor):
        for a in plant.resolved_assets:
            for s in a.sensors:
                h = Header(a.id, s.id, now + i * 1_000_000, epoch, i)
                r = _reading(s, h, i, rng, vibration_every)
                if r is not None:
                    t = topics.reading_topic(a.site, a.area, a.id, s.id, s.modality)
                    out.append((t, codec.encode(r), h.dedup_key))
    return out


def _reading(s, h: Header, i: int, rng, vibration_every: int):
    if s.modality is Modality.THERMAL:
        return ThermalReading(h, {c: 40.0 + (i % 10) for c in s.channels})
    if s.modality is Modality.CONTEXT:
        return ContextReading(h, 24.5, 0.8, 21.0, MachineState.RUNNING)
    if s.modality is Modality.NOTES:
        return OperatorNote(h, f"round {i}: DE brg noisy, 120 psi on P-101", "")
    if s.modality is Modality.VIBRATION and vibration_every and i % vibration_every == 0:
        samples = rng.normal(0, 1, (len(s.channels), s.samples_per_snapshot)).astype(np.float32)
        return VibrationSnapshot(h, s.sample_rate_hz, tuple(s.channels), samples)
    return None


NO_MATCHING_SUBSCRIBERS = 16  # MQTT 5 PUBACK reason 0x10: accepted, but nobody received it


class Publisher:
    """QoS 1 publisher that records each PUBACK's reason code.

    ``acknowledged()``: keys the broker acknowledged as delivered (reason 0). A PUBACK with
    "no matching subscribers" (Mosquitto 2.0.11 answers that while a shared subscription is not
    yet restored after a restart) is not a delivery: ``republish_unmatched`` sends those again,
    as a careful gateway does.
    """

    def __init__(self, url: str, client_id: str = "test-publisher") -> None:
        self.client = make_client(BrokerUrl.parse(url), client_id=client_id, max_inflight=200)
        self.client.on_publish = self._on_publish
        connect(self.client, BrokerUrl.parse(url))
        self.items: list[tuple] = []
        self._infos: list[mqtt.MQTTMessageInfo] = []
        self._by_mid: dict[int, list[int]] = defaultdict(list)  # mid -> item indices, in order
        self._acks: list[tuple[int, int]] = []  # (mid, reason code), appended by paho's thread

    def _on_publish(self, c: object, u: object, mid: int, rc: object, p: object) -> None:
        self._acks.append((mid, int(getattr(rc, "value", rc))))

    def publish(self, items, rate_per_s: float | None = None) -> None:
        t0 = time.monotonic()
        for n, item in enumerate(items):
            self._send(item)
            if rate_per_s:
                ahead = t0 + n / rate_per_s - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)

    def _send(self, item: tuple) -> None:
        info = self.client.publish(item[0], item[1], qos=1)
        self._by_mid[info.mid].append(len(self.items))
        self.items.append(item)
        self._infos.append(info)

    def wait_all(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and len(self._acks) < len(self.items):
            time.sleep(0.05)

    def reasons(self) -> list[int | None]:
        """The PUBACK reason code of each published item (None: not acknowledged)."""
        out: list[int | None] = [None] * len(self.items)
        queues = {mid: list(idx) for mid, idx in self._by_mid.items()}
        for mid, rc in list(self._acks):
            if queues.get(mid):
                out[queues[mid].pop(0)] = rc
        return out

    def acknowledged(self) -> list[tuple]:
        return [self.items[i][2] for i, rc in enumerate(self.reasons()) if rc == 0]

    def republish_unmatched(self) -> int:
        unmatched = [self.items[i] for i, rc in enumerate(self.reasons()) if rc == 16]
        for item in unmatched:
            self._send(item)
        return len(unmatched)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class IngestProcess:
    """``python -m plant.cli ingest`` as a child process; killed or stopped by its PID."""

    def __init__(self, config: Path, worker: str = "w0", log_dir: Path | None = None) -> None:
        self.config = config
        self.worker = worker
        self.log = (log_dir or config.parent) / f"ingest-{worker}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        cmd = [sys.executable, "-m", "plant.cli", "ingest", "--config", str(self.config)]
        cmd += ["--worker", self.worker]
        self.proc = subprocess.Popen(
            cmd, cwd=REPO, stdout=self.log.open("ab"), stderr=subprocess.STDOUT
        )

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> int | None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None


def stored_keys(store: Path, plant: PlantConfig) -> Counter:
    """How many times each (asset, sensor, epoch, seq) is in the store: every worker's WAL and
    the Parquet files, counted raw (the reader's own deduplication would hide a duplicate)."""
    validator = Validator(plant)
    count: Counter = Counter()
    for m in Modality:
        files = sorted(str(p) for p in modality_dir(store, m).rglob("*.parquet"))
        if files:
            t = ds.dataset(files, format="parquet").to_table(columns=list(DEDUP_KEY))
            count.update(zip(*(t.column(c).to_pylist() for c in DEDUP_KEY), strict=True))
    for wal_dir in sorted((store / WAL).glob("*")):
        for rec in replay_directory(wal_dir):
            res = validator.check(rec.topic, rec.payload, rec.arrival_ns)
            assert isinstance(res, Accepted), f"the WAL holds a bad reading: {res}"
            count[res.reading.header.dedup_key] += 1
    return count


def dead_letters(store: Path) -> list:
    """Every dead letter: those still in the workers' dead-letter logs and those in Parquet."""
    out = [
        unpack(rec.topic, rec.payload, rec.arrival_ns)
        for d in sorted((store / "_ingest" / DEAD_LETTERS).glob("*"))
        for rec in replay_directory(d)
    ]
    return out + table_to_dead_letters(StoreReader(store).dead_letters())


def wait_for(predicate, timeout_s: float, interval_s: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return predicate()
