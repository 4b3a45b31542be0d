"""The model's settings: input shapes, architecture and training, validated at the boundary.

Loaded from the ``[model]`` and ``[train]`` sections of a TOML file (``plantwatch train --config``);
every field has a default, so an empty file is a valid config. The resolved config is saved in
every model directory, so a model is always scored with the shapes it was trained with.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError

from plant.config import ConfigError
from plant.config.base import Section
from plant.config.load import format_errors


class InputConfig(Section):
    """Fixed shapes of the model's input batch (models/batch.py)."""

    vibration_samples: int = Field(default=8192, ge=256, le=262_144, description="crop/pad length")
    vibration_channels: int = Field(default=3, ge=1, le=8, description="axes kept (crop/pad)")
    max_order: float = Field(default=16.0, gt=1, le=200, description="order axis upper bound")
    order_bins: int = Field(default=256, ge=16, le=4096, description="bins on the order axis")
    envelope_band_hz: tuple[float, float] = Field(
        default=(1000.0, 6000.0), description="band demodulated for the envelope spectrum, Hz"
    )
    thermal_points: int = Field(default=32, ge=4, le=1024, description="thermal samples kept")
    thermal_probes: int = Field(default=4, ge=1, le=32, description="probes kept (crop/pad)")
    image_size: int = Field(default=64, ge=16, le=512, description="square image side, pixels")
    note_tokens: int = Field(default=128, ge=8, le=2048, description="hashed n-gram ids kept")
    note_vocab: int = Field(default=8192, ge=256, le=1_048_576, description="hash buckets")
    note_ngram: int = Field(default=3, ge=1, le=8, description="byte n-gram length")
    baseline_hours: float = Field(
        default=6.0, gt=0, le=24 * 60, description="per-asset baseline: the asset's first hours"
    )
    baseline_spacing_s: float = Field(
        default=600.0, gt=0, description="per-asset baseline: at most one window per spacing"
    )
    baseline_min_windows: int = Field(default=6, ge=1, le=10_000)
    baseline_settle_s: float = Field(
        default=10_800.0,
        ge=0,
        le=7 * 86_400,
        description="per-asset thermal baseline: only windows this long after the machine last "
        "stopped, started or changed load by more than baseline_load_step (probes settle in "
        "about three time constants, 1-3.5 h); 0 takes every running window",
    )
    baseline_load_step: float = Field(
        default=0.15,
        gt=0,
        le=1,
        description="per-asset thermal baseline: a load range (max - min, fraction of rated) "
        "over a window's thermal history above this is a transient",
    )


class ArchConfig(Section):
    """Widths and depths of the encoders and the fusion block."""

    width: int = Field(default=32, ge=8, le=1024, description="shared token width")
    latents: int = Field(default=4, ge=1, le=64, description="mid-fusion latent tokens")
    heads: int = Field(default=4, ge=1, le=16, description="attention heads")
    vibration_tokens: int = Field(default=8, ge=1, le=256)
    thermal_tokens: int = Field(default=4, ge=1, le=256)
    note_pool_tokens: int = Field(default=4, ge=1, le=64)
    indicators: bool = Field(
        default=True,
        description="condition-indicator tokens beside each sensor encoder (defect-line "
        "prominences at the asset's kinematic orders, residual and image-change summaries)",
    )
    indicator_tokens: int = Field(default=2, ge=1, le=16, description="tokens per indicator set")
    load_conditioned: bool = Field(
        default=False,
        description="vibration indicators standardised against normal windows at the same load "
        "(per asset type, a slope on load fraction): mesh and rolling vibration grow with "
        "torque, so a busy day is not a fault. Off by default: on two seeds of a 1-day plant it "
        "raised shifted-load vibration AUROC but not realised alpha (docs/MODEL.md)",
    )
    thermal_lag: bool = Field(
        default=False,
        description="the thermal normal-behaviour model is first order: each probe follows its "
        "steady state (ambient + rise at the current load and speed) with a time constant "
        "fitted per asset type and probe, so a probe still warm after a load step is not a "
        "residual. Off by default: on the 3-day plant it cut residual spread 10-20 % but "
        "realised alpha on test rose 0.055 -> 0.146 (docs/MODEL.md, sixth round)",
    )
    thermal_asset: Literal["scale", "offset"] = Field(
        default="scale",
        description="how the thermal encoder judges a probe against the asset's own baseline: "
        "scale: ambient plus the type's expected rise times the asset's own rise ratio over "
        "its baseline period (machines differ in losses and cooling, so a rise scales); "
        "offset: the type's model plus the asset's mean residual (models before this option)",
    )
    vibration_spectra: bool = Field(
        default=True,
        description="the vibration encoder also convolves the whole spectra (false: indicator "
        "tokens only, fewer weights to learn an asset's fingerprint from)",
    )
    use_baseline: bool = Field(
        default=True, description="read the change against per-asset baselines when ready"
    )
    detector: bool = Field(
        default=True,
        description="a monotone detector on each sensor modality's indicators (non-negative "
        "weights on positive deviations from normal) adds to that modality's late logit",
    )
    late_tokens: bool = Field(
        default=True,
        description="the late heads also read the encoder tokens (false: detector only)",
    )
    camera_change: Literal["log_ratio", "difference"] = Field(
        default="log_ratio",
        description="log_ratio: image change with framing and lighting (gain, colour cast, "
        "gradient) taken out (camera_features.image_change); difference: aligned, "
        "mean-matched difference",
    )
    combine: Literal["or", "gate"] = Field(
        default="or",
        description="or: evidence adds up across modalities (noisy-OR of the gated late and mid "
        "logits, a modality that sees nothing adds nothing); gate: softmax-weighted average",
    )
    fusion: Literal["hybrid", "late", "early"] = Field(
        default="hybrid",
        description="hybrid: late heads + latent mid fusion + gate; late: gated per-modality "
        "heads only; early: one head on the concatenated modality embeddings (baselines)",
    )


class TrainConfig(Section):
    """Optimisation and objectives (models/train.py)."""

    epochs: int = Field(default=12, ge=1, le=10_000)
    batch_size: int = Field(default=128, ge=2, le=65_536)
    learning_rate: float = Field(default=2e-3, gt=0, le=1)
    weight_decay: float = Field(default=1e-4, ge=0, le=1)
    modality_dropout: float = Field(default=0.25, ge=0, lt=1, description="per present modality")
    late_weight: float = Field(default=1.0, ge=0, description="per-modality head losses")
    fault_class_weight: float = Field(default=0.5, ge=0)
    alignment_weight: float = Field(default=0.1, ge=0, description="cross-modal InfoNCE")
    normal_weight: float = Field(default=0.1, ge=0, description="normal-behaviour compactness")
    seed: int = Field(default=0, ge=0)
    test_asset_fraction: float = Field(default=0.25, gt=0, lt=1)
    test_period_fraction: float = Field(default=0.3, gt=0, lt=1, description="last part of time")
    val_fraction: float = Field(default=0.15, gt=0, lt=1, description="of training assets")
    interval_s: float = Field(default=1800.0, gt=0, description="window spacing for training")
    max_windows: int = Field(default=40_000, ge=16, description="cap on cached training windows")
    steps_per_epoch: int = Field(
        default=0, ge=0, description="0: one pass over the training windows; else sampled steps"
    )
    balance_episodes: bool = Field(
        default=True, description="sample fault windows evenly by episode, half of each batch"
    )
    patience: int = Field(default=4, ge=1, description="early stop: epochs without improvement")
    min_train_severity: float = Field(
        default=0.05, ge=0, lt=1, description="fault windows below it are left out of training"
    )
    running_only: bool = Field(
        default=True, description="train and select on windows of running machines only"
    )
    calibrate_on: Literal["held_out", "all", "validation"] = Field(
        default="held_out",
        description="normal windows the conformal calibration is fitted on: held_out = windows "
        "no training step saw (validation assets' training period, and every non-test asset's "
        "test period: the assets' spread, out of sample), all = training and validation "
        "assets' training period (models before this option; training windows score lower "
        "than new ones), validation = the validation assets' training period only",
    )
    thermal_model: Literal["rise", "free"] = Field(
        default="rise",
        description="the thermal normal-behaviour model: rise = of the rise over ambient "
        "(ambient coefficient 1: extrapolates to hot and cold days), free = every coefficient "
        "fitted (models before this option)",
    )
    fast_compile: Literal["auto", "on", "off"] = Field(
        default="auto", description="cheap XLA passes (auto: under 4,096 training windows)"
    )


class ModelConfig(Section):
    inputs: InputConfig = InputConfig()
    arch: ArchConfig = ArchConfig()
    train: TrainConfig = TrainConfig()
    buckets: tuple[int, ...] = Field(
        default=(1, 8, 64, 256, 1024), description="batch sizes compiled for scoring"
    )


def load_model_config(path: str | Path | None, **train_overrides: object) -> ModelConfig:
    """Read a model TOML (or the defaults); ``train_overrides`` replace ``[train]`` fields."""
    raw: dict = {}
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read model config: {exc}") from None
    over = {k: v for k, v in train_overrides.items() if v is not None}
    if over:
        raw.setdefault("train", {}).update(over)
    try:
        return ModelConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, raw, str(path or "<defaults>"))) from None
