"""Operational figures of an ingest worker: rates, lag, dead letters, last-seen and gaps per sensor.

Exposed two ways: a JSON snapshot file in the store (``<store>/_ingest/metrics-<worker>.json``,
written atomically every few seconds, read by the dashboard) and, optionally, Prometheus text
format on a loopback HTTP port (``/metrics``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

log = logging.getLogger(__name__)


@dataclasses.dataclass(slots=True)
class SensorStats:
    last_seen_ns: int = 0  # reading time of the newest reading
    last_arrival_ns: int = 0
    epoch: int = -1
    last_seq: int = -1
    readings: int = 0
    gaps: int = 0  # missing sequence numbers within an epoch
    restarts: int = 0  # epoch changes (gateway restarts)

    def row(self) -> list[int]:
        """The fields in declaration order (SENSOR_FIELDS), cheaper than dataclasses.asdict."""
        s = self
        return [
            s.last_seen_ns,
            s.last_arrival_ns,
            s.epoch,
            s.last_seq,
            s.readings,
            s.gaps,
            s.restarts,
        ]


# Per-sensor figures travel as lists in this order (compact: 10,000 assets are 50,000 sensors).
SENSOR_FIELDS = tuple(f.name for f in dataclasses.fields(SensorStats))


def sensor_dict(snapshot: dict, sensor: str) -> dict:
    """One sensor's figures from a snapshot, by name."""
    return dict(zip(snapshot["sensor_fields"], snapshot["sensors"][sensor], strict=True))


class IngestMetrics:
    """Thread-safe counters; ``snapshot()`` gives the JSON-able view."""

    def __init__(self, worker: str) -> None:
        self.worker = worker
        self.started_ns = time.time_ns()
        self._lock = threading.Lock()
        self.received = 0
        self.received_bytes = 0
        self.stored = 0
        self.stored_bytes = 0
        self.duplicates = 0
        self.dead_letters: Counter[str] = Counter()
        self.backpressure_events = 0
        self.backpressure_reason = ""
        self.lag_ns = 0  # arrival -> durable, of the last batch
        self.sensors: dict[str, SensorStats] = {}
        self._rate_mark = (time.monotonic(), 0, 0)
        self._rates = (0.0, 0.0)

    def on_received(self, n: int, nbytes: int) -> None:
        with self._lock:
            self.received += n
            self.received_bytes += nbytes

    def on_dead_letter(self, reason: str) -> None:
        with self._lock:
            self.dead_letters[reason] += 1

    def on_stored(self, headers: list, nbytes: int, duplicates: int, lag_ns: int) -> None:
        """``headers``: (asset, sensor, epoch, seq, ts_ns, arrival_ns) of the stored readings."""
        with self._lock:
            self.stored += len(headers)
            self.stored_bytes += nbytes
            self.duplicates += duplicates
            self.lag_ns = lag_ns
            for asset, sensor, epoch, seq, ts_ns, arrival_ns in headers:
                self._sensor(f"{asset}/{sensor}", epoch, seq, ts_ns, arrival_ns)

    def _sensor(self, name: str, epoch: int, seq: int, ts_ns: int, arrival_ns: int) -> None:
        s = self.sensors.get(name)
        if s is None:
            s = self.sensors[name] = SensorStats()
        elif epoch != s.epoch:
            s.restarts += 1
        elif seq > s.last_seq + 1:
            s.gaps += seq - s.last_seq - 1
        if epoch != s.epoch or seq > s.last_seq:
            s.epoch, s.last_seq = epoch, seq
        s.readings += 1
        s.last_seen_ns = max(s.last_seen_ns, ts_ns)
        s.last_arrival_ns = max(s.last_arrival_ns, arrival_ns)

    def on_backpressure(self, reason: str) -> None:
        with self._lock:
            self.backpressure_events += 1
            self.backpressure_reason = reason

    def clear_backpressure(self) -> None:
        with self._lock:
            self.backpressure_reason = ""

    def snapshot(self) -> dict:
        with self._lock:
            now = time.monotonic()
            t0, n0, b0 = self._rate_mark
            if now - t0 >= 1.0:
                self._rates = (
                    (self.stored - n0) / (now - t0),
                    (self.stored_bytes - b0) / (now - t0),
                )
                self._rate_mark = (now, self.stored, self.stored_bytes)
            return {
                "worker": self.worker,
                "ts_ns": time.time_ns(),
                "started_ns": self.started_ns,
                "received": self.received,
                "received_bytes": self.received_bytes,
                "stored": self.stored,
                "stored_bytes": self.stored_bytes,
                "duplicates": self.duplicates,
                "messages_per_s": round(self._rates[0], 1),
                "bytes_per_s": round(self._rates[1], 1),
                "lag_s": self.lag_ns / 1e9,
                "dead_letters": dict(self.dead_letters),
                "backpressure_events": self.backpressure_events,
                "backpressure": self.backpressure_reason,
                "sensor_fields": list(SENSOR_FIELDS),
                "sensors": {k: v.row() for k, v in self.sensors.items()},
            }


def write_snapshot(snapshot: dict, path: Path) -> None:
    """Atomically replace ``path`` with the JSON snapshot."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(snapshot, separators=(",", ":")))
    os.replace(tmp, path)


def prometheus_text(s: dict) -> str:
    """The snapshot in Prometheus text exposition format (version 0.0.4)."""
    w = f'worker="{s["worker"]}"'
    lines = []

    def metric(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
        lines.append(f"# HELP plantwatch_ingest_{name} {help_text}")
        lines.append(f"# TYPE plantwatch_ingest_{name} {kind}")
        lines.extend(f"plantwatch_ingest_{name}{{{labels}}} {value}" for labels, value in samples)

    metric("received_total", "counter", "Messages received.", [(w, s["received"])])
    metric("received_bytes_total", "counter", "Payload bytes received.", [(w, s["received_bytes"])])
    metric("stored_total", "counter", "Readings stored durably.", [(w, s["stored"])])
    metric("stored_bytes_total", "counter", "Payload bytes stored.", [(w, s["stored_bytes"])])
    metric("duplicates_total", "counter", "Redeliveries recognised.", [(w, s["duplicates"])])
    metric("lag_seconds", "gauge", "Arrival to durable, last batch.", [(w, s["lag_s"])])
    metric(
        "dead_letters_total",
        "counter",
        "Dead letters by reason.",
        [(f'{w},reason="{r}"', n) for r, n in sorted(s["dead_letters"].items())],
    )
    metric("backpressure", "gauge", "1 while not consuming.", [(w, int(bool(s["backpressure"])))])
    sensors = s["sensors"].items()
    seen, gaps = SENSOR_FIELDS.index("last_seen_ns"), SENSOR_FIELDS.index("gaps")
    metric(
        "sensor_last_seen_seconds",
        "gauge",
        "Reading time of the newest reading per sensor (Unix s).",
        [(f'{w},sensor="{k}"', v[seen] / 1e9) for k, v in sensors],
    )
    metric(
        "sensor_gaps_total",
        "counter",
        "Missing sequence numbers per sensor.",
        [(f'{w},sensor="{k}"', v[gaps]) for k, v in sensors],
    )
    return "\n".join(lines) + "\n"


class MetricsServer:
    """``GET /metrics`` on 127.0.0.1:``port`` (0 picks a free port; see ``.port``)."""

    def __init__(self, metrics: IngestMetrics, port: int, host: str = "127.0.0.1") -> None:
        source = metrics

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404)
                    return
                body = prometheus_text(source.snapshot()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, fmt: str, *args: object) -> None:
                log.debug("metrics http: " + fmt, *args)

        self._server = ThreadingHTTPServer((host, port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
