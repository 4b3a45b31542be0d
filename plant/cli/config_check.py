"""``plantwatch config check FILE``: validate a plant file; exit 2 with every problem if invalid.

``plantwatch config reference [--out FILE]``: every key of a plant file, generated from the
pydantic models (docs/CONFIG.md is its output).
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

from plant.config import ConfigError, PlantConfig, load_config


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
    for line in advisories(config):
        print(f"warning: {line}")
    return 0


# Shaft turns per vibration snapshot: a spectrum resolves lines 1/turns of a shaft order apart,
# and bearing defect lines (BPFO ~3.1-3.6x, BPFI ~4.9-5.4x) sit within 0.3-0.5 orders of shaft
# harmonics; an eighth of an order needs 8 turns (and gives ~25+ defect impacts to average).
MIN_SHAFT_TURNS = 8.0


def advisories(config: PlantConfig) -> list[str]:
    """What is valid but will cost detection quality, one line per sensor configuration: a
    vibration snapshot shorter than ``MIN_SHAFT_TURNS`` turns of the slowest shaft it sees
    (its defect lines then blur into the shaft harmonics, and a few impacts do not stand out
    from load-driven change; docs/ARCHITECTURE.md)."""
    seen: dict[tuple[str, float, float], list[str]] = {}
    for asset in config.resolved_assets:
        for s in asset.sensors:
            if s.modality.value == "vibration" and s.snapshot_s is not None:
                key = (s.id, float(s.snapshot_s), float(asset.config.speed_rpm[0]))
                seen.setdefault(key, []).append(asset.id)
    out = []
    for (sensor, snap, rpm), assets in sorted(seen.items()):
        turns = snap * rpm / 60.0
        if turns < MIN_SHAFT_TURNS:
            need = MIN_SHAFT_TURNS * 60.0 / rpm
            where = assets[0] if len(assets) == 1 else f"{assets[0]} and {len(assets) - 1} more"
            out.append(
                f"{where}: sensor {sensor}'s {snap:g} s snapshot holds {turns:.1f} shaft turns at "
                f"{rpm:g} rpm; bearing and gear lines need at least {MIN_SHAFT_TURNS:.0f} "
                f"(snapshot_s >= {need:.2f})"
            )
    return out
