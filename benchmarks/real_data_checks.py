"""The model's branches on real data: CWRU vibration diagnosis, magnetic-tile saliency vs masks.

    nice -n 10 .venv/bin/python benchmarks/real_data_checks.py [--steps 300] [--json FILE]

Reads ../shared/data (see each PROVENANCE.md; cite CWRU Bearing Data Center + Smith & Randall
2015, and Huang et al., "Surface defect saliency of magnetic tile"). models/real_data.py says
what is trained and measured. Says so plainly and exits 2 when the data is absent.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=SHARED)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    cwru, tiles = args.data / "cwru-bearing", args.data / "magnetic-tile-defects"
    if not cwru.is_dir() or not tiles.is_dir():
        print(f"real datasets not found under {args.data} (they live beside the project)")
        return 2
    from models.real_data import cwru_diagnosis, tiles_saliency

    t = time.monotonic()
    out = {"date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime())}
    out["cwru"] = cwru_diagnosis(cwru, steps=args.steps, seed=args.seed)
    out["cwru_seconds"] = round(time.monotonic() - t, 1)
    t = time.monotonic()
    out["magnetic_tiles"] = tiles_saliency(tiles, steps=args.steps, seed=args.seed)
    out["tiles_seconds"] = round(time.monotonic() - t, 1)
    text = json.dumps(out, indent=1, default=float)
    print(text)
    if args.json:
        args.json.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
