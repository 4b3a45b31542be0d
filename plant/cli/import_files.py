"""``plantwatch import``: history from files (CSV, Parquet, WAV, NumPy, .mat) into the store.

    plantwatch import Data/12k_DE/*.mat --asset P-101 --sensor vib-de --variable '*_DE_time' \\
        --units g --sample-rate-hz 12000 --start 2024-01-01T00:00:00Z

Readings are validated like live ones and deduplicated, so importing a file twice stores it
once. Exit status: 0 imported, 1 some readings rejected, 2 bad config or mapping.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from plant.cli.common import EXIT_CONFIG, add_service_options, load_plant, setup_logging

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_service_options(p)
    p.add_argument("files", nargs="+", type=Path, help="files to import")
    p.add_argument("--asset", required=True, help="asset id the files belong to")
    p.add_argument("--sensor", required=True, help="sensor id of that asset (from the config)")
    p.add_argument("--variable", help=".mat/.npz variable, an fnmatch pattern ('*_DE_time')")
    p.add_argument("--columns", help="comma-separated names for a headerless CSV's columns")
    p.add_argument("--units", default="m/s2", choices=["m/s2", "g"], help="waveform units")
    p.add_argument("--sample-rate-hz", type=float, help="waveform rate (default: the sensor's)")
    p.add_argument("--start", help="ISO-8601 UTC time of a waveform file's first sample")
    p.add_argument("--date", help="YYYY-MM-DD for files with hour/minute/second columns")


def run(args: argparse.Namespace) -> int:
    setup_logging(args.log_level)
    plant = load_plant(args)
    from ingest.importer import FileImportError, FileMapping, import_files

    mapping = FileMapping(
        asset=args.asset,
        sensor=args.sensor,
        variable=args.variable,
        columns=tuple(c.strip() for c in args.columns.split(",")) if args.columns else None,
        units=args.units,
        sample_rate_hz=args.sample_rate_hz,
        start=args.start,
        date=args.date,
    )
    missing = [str(f) for f in args.files if not f.is_file()]
    if missing:
        print(f"not files: {missing}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        report = import_files(plant, plant.store.path, list(args.files), mapping)
    except FileImportError as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    print(
        f"imported {report.readings} readings from {report.files} file(s) into "
        f"{plant.store.path}; {report.duplicates} already stored; "
        f"rejected: {dict(report.rejected) or 'none'}"
    )
    return 1 if report.rejected else 0
