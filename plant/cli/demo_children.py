"""The demo's child processes: started with their output in a log file, stopped by PID."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from plant.broker.mosquitto import die_with_parent

log = logging.getLogger("plantwatch.demo")


class ChildFailedError(RuntimeError):
    def __init__(self, child: Child) -> None:
        super().__init__(f"{child.name} (PID {child.pid}) failed")
        self.child = child


@dataclasses.dataclass
class Child:
    name: str
    proc: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    @classmethod
    def start(cls, name: str, argv: list[str], logs: Path) -> Child:
        """Start ``argv`` in its own session (Ctrl-C reaches only the demo, which stops it)."""
        log_path = logs / f"{name}.log"
        with log_path.open("ab") as out:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,  # no other threads run while the demo starts
            )
        log.info("started %s: PID %d, log %s", name, proc.pid, log_path)
        log.debug("%s command: %s", name, " ".join(argv))
        return cls(name, proc, log_path)

    def wait_listening(self, port: int, timeout_s: float) -> None:
        """Wait until something accepts on 127.0.0.1:``port``; fail if this child exits first."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ChildFailedError(self)
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} not listening on port {port} after {timeout_s} s")

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def report_death(self) -> None:
        log.error(
            "*** %s (PID %d) exited with status %s; the demo stops. Last lines of %s:\n%s",
            self.name,
            self.pid,
            self.proc.returncode,
            self.log_path,
            self.tail(),
        )


def _terminate(children: list[Child], timeout_s: float) -> None:
    running = [c for c in children if c.proc.poll() is None]
    for c in running:
        log.info("stopping %s (PID %d)", c.name, c.pid)
        c.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for c in running:
        try:
            c.proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning(
                "%s (PID %d) ignored SIGTERM for %.0f s: killing it", c.name, c.pid, timeout_s
            )
            c.proc.kill()
            c.proc.wait()
        log.info("%s (PID %d) stopped, status %s", c.name, c.pid, c.proc.returncode)
        _sweep_group(c)


def _sweep_group(c: Child) -> None:
    """End what the child left behind in its own process group (e.g. worker processes)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(c.pid, 0)  # raises when no process of the group is left
        except (ProcessLookupError, PermissionError):
            return
        log.warning("%s left processes in its group %d: sending %s", c.name, c.pid, sig.name)
        os.killpg(c.pid, sig)
        time.sleep(1.0)


def stop_all(children: list[Child], timeout_s: float) -> None:
    """The simulator first (it flushes), then the services (ingest checkpoints), the broker last."""
    _terminate([c for c in children if c.name == "simulate"], timeout_s)
    _terminate([c for c in children if c.name not in ("simulate", "broker")], timeout_s)
    _terminate([c for c in children if c.name == "broker"], timeout_s)


def active_model(registry: Path) -> Path | None:
    """The registry's active model directory (None when none is, or no registry code yet)."""
    import importlib.util

    if importlib.util.find_spec("models.registry") is None:
        return None
    from models import registry as models_registry

    return models_registry.active_model(registry)
