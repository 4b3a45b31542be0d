"""Serve's persistent state: the per-asset normal-behaviour baselines across restarts.

The baselines (models/baseline.py ``AssetBaselines``: each asset's frozen mean of its first
hours, restarted after maintenance) take hours of plant time to build, so a restarted
``plantwatch serve`` must not start them again. :class:`BaselineFile` keeps them in serve's
state directory (``--state-dir``; default ``serve/`` beside the store) as

- ``baselines-<key>.npz``: ``AssetBaselines.save``'s plain arrays (read with
  ``allow_pickle=False``), written to a temporary name and renamed, so a crash leaves the last
  complete file;
- ``baselines-<key>.json``: what the key stands for (the model's input config) and when.

``key`` hashes the model's ``InputConfig`` (and this file's format): the baselines average what
the model reads (raw spectra on the order axis, probe means, the reference image at the
model's image size), so they are valid for every model with the same input config, and for no
other. Loading for a key removes the files of other keys (invalidated: the input config
changed). A model reload with the same input config keeps the live baselines in memory.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
from pathlib import Path

from models.baseline import AssetBaselines
from models.config import InputConfig

log = logging.getLogger(__name__)
FORMAT = 1


def input_key(cfg: InputConfig) -> str:
    """16 hex digits that change whenever the input config (or this file format) changes."""
    doc = json.dumps({"format": FORMAT, "inputs": cfg.model_dump(mode="json")}, sort_keys=True)
    return hashlib.sha256(doc.encode()).hexdigest()[:16]


def same_inputs(old: AssetBaselines | None, new: AssetBaselines | None) -> bool:
    """Whether two models' baselines keep one input config (so the live ones carry over)."""
    return old is not None and new is not None and input_key(old.cfg) == input_key(new.cfg)


def snapshot(b: AssetBaselines) -> AssetBaselines:
    """A copy that later ``observe``/``reset`` calls do not change (for a background save).

    ``AssetBaselines`` never changes an accumulator's arrays in place (``_add`` builds new
    ones), so copying the accumulators and their lists is enough."""
    out = AssetBaselines(b.cfg)
    for asset, accs in b._acc.items():
        out._acc[asset] = [dataclasses.replace(a, sums=list(a.sums)) for a in accs]
    return out


def signature(b: AssetBaselines) -> tuple[int, int, int, int]:
    """Changes whenever a window is added, a baseline freezes, or an asset is reset/added."""
    n = frozen = first = 0
    for accs in b._acc.values():
        for a in accs:
            n += a.n
            frozen += a.frozen
            first ^= a.first_ns & 0xFFFFFFFF
    return len(b._acc), n, frozen, first


class BaselineFile:
    """The baselines of one input config in ``state_dir`` (see the module docstring)."""

    def __init__(self, state_dir: str | Path) -> None:
        self.dir = Path(state_dir)

    def path(self, cfg: InputConfig) -> Path:
        return self.dir / f"baselines-{input_key(cfg)}.npz"

    def load(self, cfg: InputConfig) -> AssetBaselines | None:
        """The saved baselines for ``cfg`` (None: none, or unreadable: logged); files of other
        input configs are removed."""
        if not self.dir.is_dir():
            return None
        path = self.path(cfg)
        for other in self.dir.glob("baselines-*.*"):
            if other.name.split(".")[0] != path.stem and other.suffix in (".npz", ".json"):
                log.info("input config changed: invalidating saved baselines %s", other.name)
                other.unlink(missing_ok=True)
        if not path.is_file():
            return None
        try:
            out = AssetBaselines.load(path, cfg)
        except Exception as exc:  # e.g. a truncated zip: serve must start all the same
            log.warning("saved baselines %s unreadable (%r): starting new ones", path, exc)
            return None
        ready = sum(bool(out.ready(a).any()) for a in out.assets())
        log.info("loaded %s: %d assets' baselines (%d with a frozen modality)", path.name,
                 len(out.assets()), ready)  # fmt: skip
        return out

    def save(self, b: AssetBaselines) -> Path:
        """Write ``b`` atomically (temporary file + rename); the path written."""
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.path(b.cfg)
        tmp = path.with_name(path.stem + ".tmp.npz")
        t0 = time.perf_counter()
        b.save(tmp)
        os.replace(tmp, path)
        meta = {
            "format": FORMAT,
            "inputs": b.cfg.model_dump(mode="json"),
            "assets": len(b.assets()),
            "saved_ns": time.time_ns(),
        }
        side = path.with_suffix(".json")
        side_tmp = path.with_name(path.stem + ".tmp.json")
        side_tmp.write_text(json.dumps(meta, indent=1))
        os.replace(side_tmp, side)
        log.debug("saved %d assets' baselines to %s in %.2f s", len(b.assets()), path,
                  time.perf_counter() - t0)  # fmt: skip
        return path
