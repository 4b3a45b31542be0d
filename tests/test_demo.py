"""`plantwatch demo` starts its children, and stops them all: on SIGINT (exit 0) or a death (1)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fixtures.brokers import free_port
from tests.test_simulate_publish import Collector

REPO = Path(__file__).resolve().parent.parent


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie counts as gone


def _wait_log(path: Path, pattern: str, proc: subprocess.Popen, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = path.read_text() if path.exists() else ""
        if re.search(pattern, text):
            return text
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError(f"{pattern!r} not in {path}:\n{path.read_text()}")


class DemoRun:
    def __init__(self, tmp_path: Path) -> None:
        self.data = tmp_path / "demo"
        self.log = tmp_path / "demo.log"
        self.broker_port = free_port()
        argv = [
            sys.executable, "-m", "plant.cli", "demo",
            "--data-dir", str(self.data),
            "--broker-port", str(self.broker_port),
            "--dashboard-port", str(free_port()),
            "--speedup", "10",
            "--stop-timeout", "10", "--no-train",
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            argv, cwd=REPO, stdout=self.log.open("wb"), stderr=subprocess.STDOUT
        )

    def children(self) -> dict[str, int]:
        text = _wait_log(self.log, "demo running", self.proc, 60)
        pids = {n: int(p) for n, p in re.findall(r"started (\w+): PID (\d+)", text)}
        broker_log = self.data / "logs" / "broker.log"
        found = re.search(r"mosquitto started, PID (\d+)", broker_log.read_text())
        if found:  # the broker command's own child
            pids["mosquitto"] = int(found.group(1))
        return pids

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def demo(tmp_path: Path):
    run = DemoRun(tmp_path)
    yield run
    run.close()


def test_demo_runs_its_children_and_sigint_stops_them_all(demo: DemoRun) -> None:
    pids = demo.children()
    assert {"broker", "simulate"} <= set(pids), pids
    assert all(_alive(p) for p in pids.values()), pids
    collector = Collector(f"mqtt://127.0.0.1:{demo.broker_port}", v5=True)
    try:
        collector.wait_for(1, timeout_s=20)  # the simulator publishes live through the broker
    finally:
        collector.close()
    assert collector.messages, "no reading published within 20 s"
    demo.proc.send_signal(signal.SIGINT)
    assert demo.proc.wait(30) == 0, demo.log.read_text()
    left = {n: p for n, p in pids.items() if _alive(p)}
    assert not left, f"children left running: {left}"


def test_demo_stops_everything_loudly_when_a_child_dies(demo: DemoRun) -> None:
    pids = demo.children()
    os.kill(pids["simulate"], signal.SIGKILL)
    assert demo.proc.wait(30) == 1
    text = demo.log.read_text()
    assert re.search(rf"\*\*\* simulate \(PID {pids['simulate']}\) exited with status -9", text)
    left = {n: p for n, p in pids.items() if _alive(p)}
    assert not left, f"children left running: {left}"
