"""The model's input batch, defined once: a list of Windows to fixed-shape arrays and a mask.

Every model input has a fixed shape set by :class:`models.config.InputConfig`, so a batch of any
plant compiles once per batch size. A missing modality is marked ``False`` in ``present`` (B, 4)
and its slot holds zeros that the model never reads: encoders' outputs for it are replaced by the
learned missing token and its keys are masked in fusion (models/fusion.py).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ingest.window import Window
from models.baseline import BaselineRows, empty_rows
from models.config import InputConfig
from models.notes_text import encode_notes
from plant.config import AssetType
from plant.physics.bearing import KINEMATIC_LINES
from plant.readings import MODEL_MODALITIES, Modality

ASSET_TYPES: tuple[str, ...] = tuple(t.value for t in AssetType)
MODALITY_INDEX: dict[Modality, int] = {m: i for i, m in enumerate(MODEL_MODALITIES)}
MIN_SPEED_HZ = 1.0  # a stopped machine still gets a finite order axis; its windows are suppressed


class Batch(NamedTuple):
    """Model input (a JAX pytree). B = batch; shapes are set by InputConfig."""

    vibration: np.ndarray  # (B, C, N) float32 m/s2, cropped/zero-padded to N
    vibration_len: np.ndarray  # (B,) int32 valid samples (<= N)
    sample_rate_hz: np.ndarray  # (B,) float32
    shaft_speed_hz: np.ndarray  # (B,) float32, >= MIN_SPEED_HZ
    thermal_c: np.ndarray  # (B, T, P) float32 temperatures
    probe_mask: np.ndarray  # (B, P) bool: probe exists
    thermal_ctx: np.ndarray  # (B, T, 4) float32: load_fraction, ambient_c, speed_hz, running
    image: np.ndarray  # (B, H, W, 3) uint8
    note_ids: np.ndarray  # (B, L) int32 hashed n-gram ids, 0 = padding
    asset_type: np.ndarray  # (B,) int32 index into ASSET_TYPES
    present: np.ndarray  # (B, 4) bool in MODEL_MODALITIES order
    orders: np.ndarray  # (B, J) float32 shaft orders of KINEMATIC_LINES (0: none, e.g. no gear)
    # per-asset baselines (models/baseline.py); not ready (all False) unless a scorer fills them
    base_vib: np.ndarray  # (B, C, 3, K) float32 raw log spectra of the asset's first hours
    base_th_temp: np.ndarray  # (B, P) float32
    base_th_x: np.ndarray  # (B, F) float32
    base_image: np.ndarray  # (B, S, S, 3) uint8 reference image
    base_ready: np.ndarray  # (B, 3) bool: vibration, thermal, camera baseline frozen


def empty_batch(cfg: InputConfig, size: int) -> Batch:
    c, n, t, p = (
        cfg.vibration_channels,
        cfg.vibration_samples,
        cfg.thermal_points,
        cfg.thermal_probes,
    )
    s = cfg.image_size
    return Batch(
        vibration=np.zeros((size, c, n), np.float32),
        vibration_len=np.full(size, n, np.int32),
        sample_rate_hz=np.full(size, 12_800.0, np.float32),
        shaft_speed_hz=np.full(size, 25.0, np.float32),
        thermal_c=np.zeros((size, t, p), np.float32),
        probe_mask=np.zeros((size, p), bool),
        thermal_ctx=np.zeros((size, t, 4), np.float32),
        image=np.zeros((size, s, s, 3), np.uint8),
        note_ids=np.zeros((size, cfg.note_tokens), np.int32),
        asset_type=np.zeros(size, np.int32),
        present=np.zeros((size, len(MODEL_MODALITIES)), bool),
        orders=np.zeros((size, len(KINEMATIC_LINES)), np.float32),
        **empty_rows(cfg, size)._asdict(),
    )


def with_baselines(b: Batch, rows: BaselineRows) -> Batch:
    """``b`` with its baseline fields replaced by ``rows`` (same number of rows)."""
    return b._replace(**rows._asdict())


def make_batch(windows: list[Window], cfg: InputConfig, size: int | None = None) -> Batch:
    """Arrays for ``windows``, padded with absent rows to ``size`` (a compiled bucket) if given."""
    size = len(windows) if size is None else size
    if size < len(windows):
        raise ValueError(f"batch size {size} is below the {len(windows)} windows given")
    b = empty_batch(cfg, size)
    for i, w in enumerate(windows):
        fill_row(b, i, w, cfg)
    return b


def fill_row(b: Batch, i: int, w: Window, cfg: InputConfig) -> None:
    """Write window ``w`` into row ``i`` of ``b`` (in place)."""
    if w.asset_type not in ASSET_TYPES:
        raise ValueError(f"window {w.asset}: asset type {w.asset_type!r} not in {ASSET_TYPES}")
    b.asset_type[i] = ASSET_TYPES.index(w.asset_type)
    b.shaft_speed_hz[i] = max(_speed_hz(w), MIN_SPEED_HZ)
    if w.kinematic_orders:
        b.orders[i, : len(w.kinematic_orders)] = w.kinematic_orders[: b.orders.shape[1]]
    if w.vibration is not None:
        _fill_vibration(b, i, w, cfg)
    if w.thermal is not None and len(w.thermal.ts_ns) > 0:
        _fill_thermal(b, i, w, cfg)
    if w.camera is not None:
        b.image[i] = resize_nearest(w.camera.pixels, cfg.image_size)
        b.present[i, MODALITY_INDEX[Modality.CAMERA]] = True
    if w.notes:
        newest_first = sorted(w.notes, key=lambda n: n.header.ts_ns, reverse=True)
        texts = [n.text for n in newest_first]
        b.note_ids[i] = encode_notes(texts, cfg.note_tokens, cfg.note_vocab, cfg.note_ngram)
        b.present[i, MODALITY_INDEX[Modality.NOTES]] = bool(b.note_ids[i].any())


def _speed_hz(w: Window) -> float:
    if w.context is not None:
        return float(w.context.shaft_speed_hz)
    if w.thermal is not None and len(w.thermal.shaft_speed_hz):
        return float(w.thermal.shaft_speed_hz[-1])
    return 0.0


def _fill_vibration(b: Batch, i: int, w: Window, cfg: InputConfig) -> None:
    snap = w.vibration
    assert snap is not None
    x = np.asarray(snap.samples, np.float32)[: cfg.vibration_channels, : cfg.vibration_samples]
    b.vibration[i, : x.shape[0], : x.shape[1]] = x
    if x.shape[0] < cfg.vibration_channels:  # fewer axes: repeat the ones there are
        reps = np.resize(np.arange(x.shape[0]), cfg.vibration_channels)
        b.vibration[i, :, : x.shape[1]] = x[reps]
    b.vibration_len[i] = x.shape[1]
    b.sample_rate_hz[i] = snap.sample_rate_hz
    b.present[i, MODALITY_INDEX[Modality.VIBRATION]] = x.shape[1] > 0


def _fill_thermal(b: Batch, i: int, w: Window, cfg: InputConfig) -> None:
    th = w.thermal
    assert th is not None
    t, p = cfg.thermal_points, cfg.thermal_probes
    temp = np.asarray(th.temperature_c, np.float32)[-t:, :p]
    ctx = np.stack(
        [th.load_fraction, th.ambient_c, th.shaft_speed_hz, th.running.astype(np.float32)], -1
    ).astype(np.float32)[-t:]
    if temp.shape[0] < t:  # too short a history: hold the oldest value (edge padding)
        temp = np.concatenate([np.repeat(temp[:1], t - temp.shape[0], 0), temp])
        ctx = np.concatenate([np.repeat(ctx[:1], t - ctx.shape[0], 0), ctx])
    b.thermal_c[i, :, : temp.shape[1]] = temp
    b.probe_mask[i, : temp.shape[1]] = True
    b.thermal_ctx[i] = ctx
    b.present[i, MODALITY_INDEX[Modality.THERMAL]] = True


def resize_nearest(pixels: np.ndarray, side: int) -> np.ndarray:
    """(H, W, 3) uint8 to (side, side, 3) by nearest neighbour (no-op at the right size)."""
    h, w = pixels.shape[:2]
    if h == side and w == side:
        return pixels
    rows = (np.arange(side) * h // side).clip(0, h - 1)
    cols = (np.arange(side) * w // side).clip(0, w - 1)
    return pixels[rows][:, cols]


def pad_batch(b: Batch, size: int) -> Batch:
    """Append absent rows up to ``size`` (a compiled bucket)."""
    n = len(b.present)
    if n == size:
        return b
    if n > size:
        raise ValueError(f"batch of {n} does not fit bucket {size}")
    out = []
    for a in b:  # zeros + one copy: np.pad costs ~10x more per field (SV: serve's hot path)
        z = np.zeros((size, *a.shape[1:]), a.dtype)
        z[:n] = a
        out.append(z)
    return Batch(*out)


def take(b: Batch, idx: np.ndarray) -> Batch:
    return Batch(*(a[idx] for a in b))


def concat(batches: list[Batch]) -> Batch:
    return Batch(*(np.concatenate(parts) for parts in zip(*batches, strict=True)))


def bucket_for(n: int, buckets: tuple[int, ...]) -> int:
    """The smallest compiled batch size holding ``n`` (the largest if none does)."""
    for s in sorted(buckets):
        if n <= s:
            return s
    return max(buckets)
