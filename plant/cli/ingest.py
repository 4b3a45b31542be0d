"""``plantwatch ingest``: MQTT readings -> the durable store, with dead letters.

Run several with different ``--worker`` ids to share the load (MQTT v5 shared subscription).
SIGTERM or Ctrl-C stops cleanly; a kill -9 loses nothing (see docs/INGEST.md).
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from plant.cli.common import add_service_options, load_plant, mqtt_password, setup_logging

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_service_options(p)
    p.add_argument(
        "--worker", default="w0", help="this worker's id: its MQTT session and WAL (default w0)"
    )
    p.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve Prometheus text on 127.0.0.1:PORT/metrics (0: any free port)",
    )


def run(args: argparse.Namespace) -> int:
    setup_logging(args.log_level)
    plant = load_plant(args)
    from ingest.service import IngestService

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    service = IngestService(
        plant,
        plant.store.path,
        broker=plant.broker.url,
        worker=args.worker,
        password=mqtt_password(),
        metrics_port=args.metrics_port,
    )
    if service.server is not None:
        print(f"metrics: http://127.0.0.1:{service.server.port}/metrics", flush=True)
    log.info("ingest worker %s: %s -> %s", args.worker, plant.broker.url, plant.store.path)
    service.run(stop)
    return 0
