"""``plantwatch demo``: everything on one machine, each service its own child process.

Starts the broker (port 1883, or a free one if taken), then, where those commands exist, trains
a first model if none is active, ingest, serve and the dashboard, and last the simulator (so
nothing it publishes is missed), all sharing one ``--broker`` and a store under ``--data-dir``.
Each child's output goes to ``<data-dir>/logs/<name>.log``. Nothing is restarted silently: if a
child exits, the demo says so loudly, stops the others and exits 1. Ctrl-C or SIGTERM stops every
child (SIGTERM, then SIGKILL after ``--stop-timeout``), by PID, and exits 0.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import shutil
import signal
import socket
import sys
import threading
from pathlib import Path

from plant.cli import COMMANDS
from plant.cli.common import DEFAULT_CONFIG, load_plant, setup_logging
from plant.cli.demo_children import Child, ChildFailedError, active_model, stop_all

log = logging.getLogger("plantwatch.demo")

EXIT_CHILD_DIED = 1


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="the plant's TOML file")
    p.add_argument("--data-dir", type=Path, default=Path("data/demo"), help="store, logs, models")
    p.add_argument("--broker-port", type=int, default=1883, help="a free port is used if taken")
    p.add_argument("--dashboard-port", type=int, default=8050)
    p.add_argument("--embedded-broker", action="store_true", help="even if Mosquitto is there")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--speedup", type=float, default=1.0, help="plant seconds per wall second")
    p.add_argument(
        "--no-train", action="store_true", help="never train a first model (scoring waits for one)"
    )
    p.add_argument("--train-days", type=float, default=2.0, help="plant days to train a first on")
    p.add_argument("--stop-timeout", type=float, default=10.0, help="SIGTERM grace, seconds")
    p.add_argument("--log-level", default="INFO")


def available(command: str) -> bool:
    """Whether ``plantwatch <command>`` exists in this checkout."""
    entry = COMMANDS.get(command)
    return entry is not None and importlib.util.find_spec(entry[0]) is not None


def accepts(command: str, option: str) -> bool:
    """Whether ``plantwatch <command>`` takes ``option`` (commands grow options on their own)."""
    parser = argparse.ArgumentParser(add_help=False)
    importlib.import_module(COMMANDS[command][0]).add_arguments(parser)
    return option in parser._option_string_actions


def pick_port(preferred: int, what: str = "the broker") -> int:
    """``preferred`` if nothing listens there on loopback, else a free port."""
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", preferred)) != 0:
            return preferred
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log.warning("port %d is taken: %s gets port %d", preferred, what, port)
    return port


def command_args(command: str, wanted: dict[str, str | None]) -> list[str]:
    """``wanted`` options that ``command`` accepts (value None: a flag)."""
    out: list[str] = []
    for option, value in wanted.items():
        if accepts(command, option):
            out += [option] if value is None else [option, value]
    return out


class Demo:
    """The demo's children, started in order and supervised until a signal or a death."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.data = args.data_dir
        self.logs = self.data / "logs"
        self.children: list[Child] = []
        self.stop = threading.Event()

    def shared(self, broker_url: str) -> dict[str, str | None]:
        d = self.data
        return {
            "--config": str(self.args.config),
            "--broker": broker_url,
            "--store": str(d / "store"),
            "--registry": str(d / "models"),
            "--log-level": self.args.log_level,
        }

    def spawn(self, name: str, command: str, args: list[str]) -> Child:
        child = Child.start(name, [sys.executable, "-m", "plant.cli", command, *args], self.logs)
        self.children.append(child)
        return child

    def run_to_end(self, name: str, command: str, args: list[str]) -> None:
        """A one-off step (generate, train): wait for it; a failure stops the demo."""
        child = self.spawn(name, command, args)
        while child.proc.poll() is None:
            if self.stop.wait(0.2):
                return
        self.children.remove(child)
        if child.proc.returncode != 0:
            raise ChildFailedError(child)
        log.info("%s finished", name)

    def start_broker(self) -> str:
        port = pick_port(self.args.broker_port)
        args = ["--port", str(port), "--data-dir", str(self.data / "broker")]
        if self.args.embedded_broker:
            args.append("--embedded")
        broker = self.spawn("broker", "broker", args)
        broker.wait_listening(port, 30.0)
        return f"mqtt://127.0.0.1:{port}"

    def first_model(self, shared: dict[str, str | None]) -> None:
        registry = self.data / "models"
        active = active_model(registry)
        if active is not None:
            log.info("active model: %s", active)
            return
        if self.args.no_train:
            log.warning("no model is active and --no-train: scoring waits for one")
            return
        if not (available("train") and available("generate")):
            log.warning("no model is active and `plantwatch train` is not here yet: no scoring")
            return
        log.info(
            "no model is active: generating %s plant days and training a first model; this "
            "takes minutes (progress in %s/generate.log and train.log)",
            self.args.train_days,
            self.logs,
        )
        dataset = self.data / "train-data"
        if dataset.exists():  # left by an interrupted first start: make it afresh
            log.info("removing the incomplete %s", dataset)
            shutil.rmtree(dataset)
        config = {"--config": shared["--config"]}
        gen = ["--days", str(self.args.train_days), "--seed", str(self.args.seed + 1)]
        gen += ["--out", str(dataset), *command_args("generate", config)]
        self.run_to_end("generate", "generate", gen)
        train = ["--data", str(dataset), "--out", str(registry), *command_args("train", config)]
        self.run_to_end("train", "train", train)

    def start_services(self) -> None:
        broker_url = self.start_broker()
        shared = self.shared(broker_url)
        if available("ingest"):
            self.spawn("ingest", "ingest", command_args("ingest", shared))
        self.first_model(shared)
        if self.stop.is_set():
            return
        api_url = None
        if available("serve"):
            api_port = pick_port(8051, "the alarm API")
            api_url = f"http://127.0.0.1:{api_port}"
            serve = shared | {"--api-port": str(api_port)}
            self.spawn("serve", "serve", command_args("serve", serve))
            log.info("alarm API: %s/api/v1 (serve's log has the admin password)", api_url)
        else:
            log.warning("`plantwatch serve` is not here yet: no scoring or alarms")
        if available("dashboard"):
            port = str(self.args.dashboard_port)
            ui = shared | {"--port": port, "--secret-file": str(self.data / "dashboard-secret")}
            if api_url is not None:
                ui["--api"] = api_url
            self.spawn("dashboard", "dashboard", command_args("dashboard", ui))
            log.info("dashboard: http://127.0.0.1:%s", port)
        sim = ["--seed", str(self.args.seed), "--speedup", str(self.args.speedup)]
        self.spawn("simulate", "simulate", sim + command_args("simulate", shared))
        log.info("demo running: broker %s; Ctrl-C stops it", broker_url)

    def supervise(self) -> int:
        """Wait for a signal (exit 0) or a child's exit (exit 1)."""
        while not self.stop.wait(0.2):
            for child in self.children:
                if child.proc.poll() is not None:
                    child.report_death()
                    return EXIT_CHILD_DIED
        log.info("stopping the demo")
        return 0


def run(args: argparse.Namespace) -> int:
    setup_logging(args.log_level)
    load_plant(args)  # exit 2 on a bad config before anything starts
    demo = Demo(args)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: demo.stop.set())
    demo.logs.mkdir(parents=True, exist_ok=True)
    try:
        demo.start_services()
        status = demo.supervise()
    except ChildFailedError as exc:
        exc.child.report_death()
        status = EXIT_CHILD_DIED
    except (TimeoutError, OSError) as exc:
        log.error("demo could not start: %s", exc)
        status = EXIT_CHILD_DIED
    finally:
        stop_all(demo.children, args.stop_timeout)
    return status
