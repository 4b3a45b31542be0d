"""The ``plantwatch`` command: the one composition root that wires the services together.

Each subcommand lives in its own module exposing ``add_arguments(parser)`` and ``run(args)``;
heavy imports (JAX, Dash, pyarrow) happen inside ``run`` so ``plantwatch --help`` stays fast.
This is the only place in ``plant`` allowed to import ``ingest``, ``models`` and ``dashboard``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

# command name -> (module, one-line help). Order is the order shown in --help.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("plant.cli.demo", "everything on one machine: broker, simulator, ingest, serve, UI"),
    "broker": ("plant.cli.broker", "start Mosquitto with a generated config (or the embedded one)"),
    "config": ("plant.cli.config_check", "validate a plant config: plantwatch config check FILE"),
    "simulate": ("plant.cli.simulate", "publish the simulated plant live over MQTT"),
    "generate": ("plant.cli.generate", "write an offline dataset in the store layout, with labels"),
    "ingest": ("plant.cli.ingest", "MQTT -> the durable store, with dead letters"),
    "import": ("plant.cli.import_files", "files (CSV, Parquet, WAV, NumPy, .mat) -> the store"),
    "train": ("plant.cli.train", "train a model from the store"),
    "evaluate": ("plant.cli.evaluate", "evaluate a model; write the figures as JSON"),
    "models": ("plant.cli.models", "the model registry: list, show, promote, rollback"),
    "serve": ("plant.cli.serve", "live scoring, the alarm engine and its HTTP API"),
    "dashboard": ("plant.cli.dashboard", "the Dash operator dashboard"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="plantwatch", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        if importlib.util.find_spec(module_name) is None:
            continue
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args._module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
