"""Can `plantwatch simulate` keep up with N benchmark assets live? (DESIGN.md §7 rates)

Starts Mosquitto on a free loopback port, a C subscriber (mosquitto_sub) counting every reading,
and `plantwatch simulate --config configs/benchmark.toml --multiply M [--templates]` paced at
``--speedup`` for ``--duration`` plant seconds. Reports messages/s and MB/s published against the
configured rate, the worst lag behind the wall-clock schedule, and sent vs received counts.

    nice -n 10 .venv/bin/python benchmarks/publish_scale.py --multiply 50 --templates --duration 120
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from plant.broker.mosquitto import MosquittoBroker, MosquittoSettings
from plant.config import load_config

REPO = Path(__file__).resolve().parent.parent


def configured_rate(config_path: Path, multiply: int) -> float:
    """Readings per second the plant's sensor periods add up to (notes included)."""
    config = load_config(config_path).multiplied(multiply)
    return sum(1.0 / s.period_s for a in config.resolved_assets for s in a.sensors)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", type=Path, default=REPO / "configs" / "benchmark.toml")
    p.add_argument("--multiply", type=int, default=50)
    p.add_argument("--templates", action="store_true")
    p.add_argument("--speedup", type=float, default=1.0)
    p.add_argument("--duration", type=float, default=120.0, help="plant seconds")
    p.add_argument("--json", type=Path, help="write the result here")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        broker = MosquittoBroker(MosquittoSettings(free_port(), "127.0.0.1", Path(tmp)))
        broker.start()
        url = f"mqtt://127.0.0.1:{broker.settings.port}"
        count_file = Path(tmp) / "topics.txt"
        sub = subprocess.Popen(
            ["mosquitto_sub", "-p", str(broker.settings.port), "-q", "1", "-F", "%t",
             "-t", "plantwatch/v1/readings/#"],
            stdout=count_file.open("wb"),
        )  # fmt: skip
        time.sleep(0.5)
        argv = [
            sys.executable, "-m", "plant.cli", "simulate", "--config", str(args.config),
            "--broker", url, "--multiply", str(args.multiply), "--speedup", str(args.speedup),
            "--duration", str(args.duration), "--seed", "1",
        ] + (["--templates"] if args.templates else [])  # fmt: skip
        t0 = time.monotonic()
        proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True)
        wall_s = time.monotonic() - t0
        time.sleep(1.0)
        sub.terminate()
        sub.wait()
        broker.stop()
        received = sum(1 for _ in count_file.open("rb"))
    if proc.returncode != 0:
        print(proc.stderr[-3000:], file=sys.stderr)
        return 1
    line = proc.stdout.strip().splitlines()[-1]
    sent = int(re.search(r"published (\d+) messages", line).group(1))
    result = {
        "assets": 200 * args.multiply if args.config.name == "benchmark.toml" else None,
        "templates": args.templates,
        "speedup": args.speedup,
        "plant_s": args.duration,
        "wall_s": round(wall_s, 1),
        "configured_msgs_per_s": round(configured_rate(args.config, args.multiply) * args.speedup),
        "summary": line,
        "sent": sent,
        "received": received,
        "lost": sent - received,
        "periods": [
            m.group(1) for m in re.finditer(r"published (\d.*?); \d+ unacked", proc.stderr)
        ],
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
