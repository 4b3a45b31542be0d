"""A model directory on disk: weights without pickle, checksum verified at load, config beside.

Layout (DESIGN.md §3 "A model directory"):
  weights.msgpack   flax.serialization msgpack of the model state: parameters and the normaliser
                    statistics (the ``Stat`` collection: spectra mean/std, thermal model)
  manifest.json     format version, sha256 of weights.msgpack, parameter count, creation time
  config.json       the resolved ModelConfig (input shapes, architecture, training settings)
  metrics.json      training/validation/test figures; train_log.jsonl the per-step log
  model_card.md     what it is, what it was trained on, how well it does, where it is weak
  calibration/      conformal calibration tables (written by models/calibration.py)
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

import jax
import numpy as np
from flax import nnx, serialization

from models.config import ModelConfig
from models.model import FusionModel

log = logging.getLogger(__name__)
FORMAT_VERSION = 1
WEIGHTS = "weights.msgpack"


class ChecksumError(ValueError):
    """The weights file does not match the checksum its manifest records."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _stringify(tree: object) -> object:
    if isinstance(tree, dict):
        return {str(k): _stringify(v) for k, v in tree.items()}
    return np.asarray(tree)


def save_model(model: FusionModel, cfg: ModelConfig, out: Path, extra: dict | None = None) -> str:
    """Write weights, manifest and config into ``out``; return the weights' sha256."""
    out.mkdir(parents=True, exist_ok=True)
    pure = _stringify(nnx.state(model).to_pure_dict())
    (out / WEIGHTS).write_bytes(serialization.msgpack_serialize(pure))
    digest = sha256_file(out / WEIGHTS)
    manifest = {
        "format_version": FORMAT_VERSION,
        "weights": WEIGHTS,
        "weights_sha256": digest,
        "created_ns": time.time_ns(),
        "params": int(sum(np.prod(x.shape) for x in jax.tree.leaves(nnx.state(model, nnx.Param)))),
        **(extra or {}),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    (out / "config.json").write_text(cfg.model_dump_json(indent=2))
    return digest


def _restore_keys(template: object, loaded: object) -> object:
    """Map msgpack's string keys back onto the template's (int keys of nnx.List)."""
    if isinstance(template, dict):
        return {k: _restore_keys(v, loaded[str(k)]) for k, v in template.items()}
    return loaded


def load_model(model_dir: Path) -> tuple[FusionModel, ModelConfig, dict]:
    """Load and verify a model directory; raise ChecksumError on a tampered weights file."""
    model_dir = Path(model_dir)
    manifest = json.loads((model_dir / "manifest.json").read_text())
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{model_dir}: format_version {manifest.get('format_version')} is not "
            f"{FORMAT_VERSION}; retrain or convert the model"
        )
    weights = model_dir / manifest["weights"]
    digest = sha256_file(weights)
    if digest != manifest["weights_sha256"]:
        raise ChecksumError(
            f"{weights}: sha256 {digest} does not match the manifest's "
            f"{manifest['weights_sha256']}; the file was changed or corrupted, refusing to load"
        )
    raw = json.loads((model_dir / "config.json").read_text())
    arch = raw.setdefault("arch", {})
    # saved before thermal baselines waited for settled probes: their baselines as trained
    raw.setdefault("inputs", {}).setdefault("baseline_settle_s", 0.0)
    arch.setdefault("indicators", False)  # saved before indicators existed
    arch.setdefault("detector", False)  # saved before the detectors and the noisy-OR
    arch.setdefault("load_conditioned", False)  # saved before load-conditioned indicators
    arch.setdefault("combine", "gate")
    arch.setdefault("camera_change", "difference")  # saved before camera_features.image_change
    arch.setdefault("thermal_lag", False)  # saved before the first-order thermal model
    arch.setdefault("thermal_asset", "offset")  # saved before the asset's rise scale
    cfg = ModelConfig.model_validate(raw)
    model = nnx.eval_shape(lambda: FusionModel(cfg, nnx.Rngs(0)))
    state = nnx.state(model)
    loaded = serialization.msgpack_restore(weights.read_bytes())
    pure = _restore_keys(state.to_pure_dict(), loaded)
    nnx.replace_by_pure_dict(state, jax.tree.map(jax.numpy.asarray, pure))
    nnx.update(model, state)
    log.info("loaded model %s (sha256 %s...)", model_dir, digest[:12])
    return model, cfg, manifest
