"""``plantwatch config check FILE``: validate a plant file; exit 2 with every problem if invalid.

``plantwatch config reference [--out FILE]``: every key of a plant file, generated from the
pydantic models (docs/CONFIG.md is its output).
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

from plant.config import ConfigError, load_config


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    check = sub.add_parser("check", help="validate FILE")
    check.add_argument("file", type=Path)
    ref = sub.add_parser("reference", help="print the reference of every key (docs/CONFIG.md)")
    ref.add_argument("--out", type=Path, help="write to FILE instead of standard output")


def run(args: argparse.Namespace) -> int:
    if args.action == "reference":
        from plant.config.reference import reference_markdown

        text = reference_markdown()
        if args.out is None:
            sys.stdout.write(text)
        else:
            args.out.write_text(text)
        return 0
    try:
        config = load_config(args.file)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    assets = config.resolved_assets
    types = collections.Counter(a.type for a in assets)
    sensors = sum(len(a.sensors) for a in assets)
    print(
        f"{args.file}: valid: site {config.plant.site}, {len(config.areas)} areas, "
        f"{len(assets)} assets ({', '.join(f'{n} {t}' for t, n in sorted(types.items()))}), "
        f"{sensors} sensors"
    )
    return 0
