"""The model registry: a folder of model directories with one pointer to the active model.

  <registry>/v0001-20261123T101500/   a model directory (models/checkpoint.py)
  <registry>/ACTIVE                   the active version's name (replaced atomically)
  <registry>/promotions.jsonl         every promotion and rollback, with its time

``serve`` watches ``ACTIVE``; ``demo`` reads it through :func:`active_model`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import time
from pathlib import Path

from models.checkpoint import ChecksumError, sha256_file

ACTIVE = "ACTIVE"
HISTORY = "promotions.jsonl"
_VERSION = re.compile(r"^v(\d{4,})-\d{8}T\d{6}$")


class RegistryError(ValueError):
    """A registry operation that cannot be done (unknown version, nothing to roll back to)."""


def versions(registry: Path) -> list[str]:
    """Model versions in the registry, oldest first."""
    registry = Path(registry)
    if not registry.is_dir():
        return []
    found = [p.name for p in registry.iterdir() if p.is_dir() and _VERSION.match(p.name)]
    return sorted(found, key=lambda v: int(_VERSION.match(v).group(1)))  # type: ignore[union-attr]


def new_version_dir(registry: Path) -> Path:
    """A fresh, empty directory for the next version (not active)."""
    registry = Path(registry)
    registry.mkdir(parents=True, exist_ok=True)
    last = versions(registry)
    n = int(_VERSION.match(last[-1]).group(1)) + 1 if last else 1  # type: ignore[union-attr]
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    path = registry / f"v{n:04d}-{stamp}"
    path.mkdir()
    return path


def active_version(registry: Path) -> str | None:
    p = Path(registry) / ACTIVE
    if not p.is_file():
        return None
    name = p.read_text().strip()
    return name if (Path(registry) / name).is_dir() else None


def active_model(registry: Path) -> Path | None:
    """The active model's directory, or None when no model is active."""
    name = active_version(registry)
    return None if name is None else Path(registry) / name


def _verify(model_dir: Path) -> None:
    manifest = json.loads((model_dir / "manifest.json").read_text())
    digest = sha256_file(model_dir / manifest["weights"])
    if digest != manifest["weights_sha256"]:
        raise ChecksumError(f"{model_dir}: weights checksum mismatch; refusing to promote")


def _point(registry: Path, version: str, action: str) -> None:
    tmp = registry / f".{ACTIVE}.tmp"
    tmp.write_text(version + "\n")
    os.replace(tmp, registry / ACTIVE)
    with (registry / HISTORY).open("a") as f:
        f.write(json.dumps({"ts_ns": time.time_ns(), "action": action, "version": version}) + "\n")


def linked_registry(model_dir: Path, root: Path) -> Path:
    """A new registry ``root/registry`` whose one, active version is a link to ``model_dir``
    (benchmarks and tools that serve an existing model without copying it)."""
    reg = Path(root) / "registry"
    reg.mkdir()
    (reg / model_dir.name).symlink_to(model_dir.resolve(), target_is_directory=True)
    _point(reg, model_dir.name, "link")
    return reg


def promote(registry: Path, version: str) -> None:
    """Make ``version`` the active model (its weights are verified first)."""
    registry = Path(registry)
    if version not in versions(registry):
        raise RegistryError(f"no version {version!r} in {registry}; have {versions(registry)}")
    _verify(registry / version)
    _point(registry, version, "promote")


def history(registry: Path) -> list[dict]:
    p = Path(registry) / HISTORY
    return [json.loads(x) for x in p.read_text().splitlines() if x] if p.is_file() else []


def _stack(registry: Path) -> list[str]:
    """Promotions still in force: a promotion pushes, a rollback pops."""
    stack: list[str] = []
    for h in history(registry):
        if h["action"] == "promote":
            stack.append(h["version"])
        elif h["action"] == "rollback" and stack:
            stack.pop()
    return stack


def rollback(registry: Path) -> str:
    """Re-activate the model that was active before the current one; return its version."""
    registry = Path(registry)
    stack = [v for v in _stack(registry) if v in versions(registry)]
    if len(stack) < 2:
        raise RegistryError(
            f"nothing to roll back to in {registry} (active: {active_version(registry)})"
        )
    target = stack[-2]
    _verify(registry / target)
    _point(registry, target, "rollback")
    return target


def describe(registry: Path, version: str) -> dict:
    """Manifest, metrics and model card of one version."""
    d = Path(registry) / version
    if not d.is_dir():
        raise RegistryError(f"no version {version!r} in {registry}; have {versions(registry)}")
    out = {"version": version, "active": active_version(registry) == version}
    out["manifest"] = json.loads((d / "manifest.json").read_text())
    metrics = d / "metrics.json"
    out["metrics"] = json.loads(metrics.read_text()) if metrics.is_file() else {}
    card = d / "model_card.md"
    out["model_card"] = card.read_text() if card.is_file() else ""
    return out


def summary_rows(registry: Path) -> list[dict]:
    """One row per version for ``plantwatch models list``."""
    rows = []
    for v in versions(registry):
        info = describe(registry, v)
        test = info["metrics"].get("test", {}).get("auroc", {})
        rows.append(
            {
                "version": v,
                "active": info["active"],
                "params": info["manifest"].get("params"),
                "test_auroc": test.get("fused"),
                "sha256": info["manifest"].get("weights_sha256", "")[:12],
            }
        )
    return rows


def write_model_card(model_dir: Path, result: dict, data: str) -> None:
    t = result.get("test", {})
    au = t.get("auroc", {})
    lines = [
        f"# Model {model_dir.name}",
        "",
        "Hybrid-fusion anomaly model (docs/MODEL.md): per-modality encoders (vibration order and",
        "envelope spectra, thermal residual, camera patches, hashed note n-grams), late heads,",
        "latent-token mid fusion, presence-aware gate, fault-class head.",
        "",
        f"- trained on: `{data}`; windows {result.get('windows')}",
        f"- training time: {result.get('train_seconds', 0):.0f} s, best epoch "
        f"{result.get('best_epoch')}",
        f"- held-out test assets and period: fused AUROC {au.get('fused')}, single modalities "
        + ", ".join(f"{k} {v}" for k, v in au.items() if k not in ("fused", "best_single")),
        f"- fault-class macro-F1 on test fault windows: {t.get('fault_class_macro_f1')}",
        "- limits: trained on simulated plant data; calibration tables are added by",
        "  `models/calibration.py`; check `metrics.json` before promoting.",
    ]
    (model_dir / "model_card.md").write_text("\n".join(lines) + "\n")
