"""``plantwatch models list | show VERSION | promote VERSION | rollback``: the model registry."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from plant.cli.common import setup_logging

DEFAULT_REGISTRY = Path("data/models")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--registry", type=Path, default=DEFAULT_REGISTRY, help="registry folder")
    p.add_argument("--log-level", default="WARNING")
    sub = p.add_subparsers(dest="action", required=True)
    sub.add_parser("list", help="every version, the active one marked")
    show = sub.add_parser("show", help="manifest, metrics and model card of a version")
    show.add_argument("version")
    promote = sub.add_parser("promote", help="make a version active (weights verified)")
    promote.add_argument("version")
    sub.add_parser("rollback", help="re-activate the previously active version")


def run(args: argparse.Namespace) -> int:
    setup_logging(args.log_level)
    from models import registry
    from models.checkpoint import ChecksumError

    try:
        if args.action == "list":
            for r in registry.summary_rows(args.registry):
                mark = "*" if r["active"] else " "
                print(
                    f"{mark} {r['version']}  test_auroc={r['test_auroc']}  "
                    f"params={r['params']}  sha256={r['sha256']}"
                )
        elif args.action == "show":
            print(json.dumps(registry.describe(args.registry, args.version), indent=1))
        elif args.action == "promote":
            registry.promote(args.registry, args.version)
            print(f"active: {args.version}")
        else:
            print(f"active: {registry.rollback(args.registry)}")
    except (registry.RegistryError, ChecksumError) as exc:
        print(f"error: {exc}")
        return 1
    return 0
