"""The evidence behind a health score, per modality, at a given time (numpy, no Dash).

Vibration: amplitude spectrum and envelope spectrum of the latest snapshot with the bearing
defect frequencies (BPFO, BPFI, BSF, FTF) and 1x/2x of the shaft speed at that time, and the
ISO 20816-3 zone of its velocity RMS. Thermal: the probes over the look-back with the active
model's normal-behaviour expectation. Camera: the latest image (the saliency map comes from the
model). Notes: recent notes with personal data redacted.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from dashboard.data.store import NS_PER_S, StoreView
from ingest.redact import redact
from plant.config import Asset
from plant.physics.bearing import defect_frequencies
from plant.physics.envelope import (
    envelope_spectrum,
    iso_velocity_rms_mm_s,
    iso_zone,
    zone_boundaries_mm_s,
)
from plant.readings import (
    CameraImage,
    ContextReading,
    MachineState,
    Modality,
    OperatorNote,
    ThermalReading,
    VibrationSnapshot,
)

# Which markers a fault class points at (drawn in colour when that fault is suspected).
FAULT_MARKERS: dict[str, tuple[str, ...]] = {
    "bearing_outer": ("BPFO",),
    "bearing_inner": ("BPFI",),
    "bearing_ball": ("2xBSF", "BSF"),
    "imbalance": ("1x",),
    "misalignment": ("2x",),
    "looseness": ("1x", "2x"),
}
MAX_SPECTRUM_POINTS = 4000  # decimated for the browser; peaks kept by max-pooling


@dataclasses.dataclass(frozen=True, slots=True)
class VibrationEvidence:
    ts_ns: int
    channel: str
    sample_rate_hz: float
    shaft_hz: float
    freq_hz: np.ndarray
    spectrum: np.ndarray  # m/s², one-sided amplitude
    env_freq_hz: np.ndarray
    envelope: np.ndarray  # m/s², envelope amplitude
    env_band_hz: tuple[float, float]
    markers_hz: dict[str, float]
    velocity_rms_mm_s: float
    iso_zone: str
    iso_boundaries_mm_s: tuple[float, float, float]


@dataclasses.dataclass(frozen=True, slots=True)
class ThermalEvidence:
    ts_ns: np.ndarray  # (T,)
    channels: tuple[str, ...]
    temperature_c: np.ndarray  # (T, P)
    context: np.ndarray  # (T, 4): load_fraction, ambient_c, shaft_speed_hz, running


@dataclasses.dataclass(frozen=True, slots=True)
class NoteView:
    ts_ns: int
    text: str  # redacted
    author_known: bool


def max_pool(freq: np.ndarray, amp: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``limit`` points, each the highest of its block, so peaks survive decimation."""
    if amp.size <= limit:
        return freq, amp
    step = -(-amp.size // limit)
    n = (amp.size // step) * step
    blocks = amp[:n].reshape(-1, step)
    idx = blocks.argmax(axis=1) + np.arange(blocks.shape[0]) * step
    return freq[idx], amp[idx]


def amplitude_spectrum(x: np.ndarray, fs_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """Hann-windowed one-sided amplitude spectrum of a 1-D signal (a sinusoid of a reads a)."""
    w = np.hanning(x.size)
    amp = np.abs(np.fft.rfft((x - x.mean()) * w)) * 2.0 / w.sum()
    return np.fft.rfftfreq(x.size, 1.0 / fs_hz), amp


def shaft_hz_at(store: StoreView, asset: Asset, at_ns: int, lookback_s: float) -> float:
    ctx = store.latest_reading(Modality.CONTEXT, asset.id, at_ns, lookback_s)
    if isinstance(ctx, ContextReading) and ctx.shaft_speed_hz > 0:
        return float(ctx.shaft_speed_hz)
    lo, hi = asset.config.speed_rpm
    return (lo + hi) / 2.0 / 60.0  # no context: the middle of the rated range, said in the UI


def vibration_evidence(
    store: StoreView, asset: Asset, at_ns: int, lookback_s: float
) -> VibrationEvidence | None:
    snap = store.latest_reading(Modality.VIBRATION, asset.id, at_ns, lookback_s)
    if not isinstance(snap, VibrationSnapshot):
        return None
    x = np.asarray(snap.samples, dtype=np.float64)  # (C, N)
    fs = float(snap.sample_rate_hz)
    vel = np.atleast_1d(iso_velocity_rms_mm_s(x, fs))  # (C,)
    c = int(np.argmax(vel))  # show the channel with the most energy
    shaft = shaft_hz_at(store, asset, snap.header.ts_ns, lookback_s)
    freq, amp = max_pool(*amplitude_spectrum(x[c], fs), MAX_SPECTRUM_POINTS)
    env = envelope_spectrum(x[c], fs)
    efreq, eamp = max_pool(env.freqs_hz, env.amplitude, MAX_SPECTRUM_POINTS)
    bearing = defect_frequencies(asset.config.bearing, shaft).markers()
    markers = {"1x": shaft, "2x": 2 * shaft, **{k: v for k, v in bearing.items() if k != "1x"}}
    group, foundation = asset.config.iso_group, asset.config.foundation
    return VibrationEvidence(
        ts_ns=snap.header.ts_ns,
        channel=snap.channels[c],
        sample_rate_hz=fs,
        shaft_hz=shaft,
        freq_hz=freq,
        spectrum=amp,
        env_freq_hz=efreq,
        envelope=eamp,
        env_band_hz=env.band_hz,
        markers_hz=markers,
        velocity_rms_mm_s=float(vel[c]),
        iso_zone=iso_zone(float(vel[c]), group, foundation).value,
        iso_boundaries_mm_s=zone_boundaries_mm_s(group, foundation),
    )


def thermal_evidence(
    store: StoreView, asset: Asset, at_ns: int, history_s: float
) -> ThermalEvidence | None:
    start = at_ns - int(history_s * NS_PER_S)
    temps = [
        r
        for r in store.readings(Modality.THERMAL, asset.id, start, at_ns + 1)
        if isinstance(r, ThermalReading)
    ]
    if not temps:
        return None
    channels = tuple(temps[-1].values_c)
    ts = np.array([r.header.ts_ns for r in temps], dtype=np.int64)
    t_c = np.array([[r.values_c.get(ch, np.nan) for ch in channels] for r in temps], np.float32)
    ctx = [
        r
        for r in store.readings(Modality.CONTEXT, asset.id, start - 60 * NS_PER_S, at_ns + 1)
        if isinstance(r, ContextReading)
    ]
    return ThermalEvidence(ts, channels, t_c, align_context(ts, ctx))


def align_context(ts_ns: np.ndarray, ctx: list[ContextReading]) -> np.ndarray:
    """(T, 4) load, ambient, speed, running: the latest context at or before each time."""
    out = np.full((ts_ns.size, 4), np.nan, np.float32)
    if not ctx:
        return out
    cts = np.array([c.header.ts_ns for c in ctx], dtype=np.int64)
    vals = np.array(
        [
            [c.load_fraction, c.ambient_c, c.shaft_speed_hz, float(c.state is MachineState.RUNNING)]
            for c in ctx
        ],
        np.float32,
    )
    idx = np.searchsorted(cts, ts_ns, side="right") - 1
    ok = idx >= 0
    out[ok] = vals[idx[ok]]
    return out


def latest_image(
    store: StoreView, asset: Asset, at_ns: int, lookback_s: float
) -> CameraImage | None:
    img = store.latest_reading(Modality.CAMERA, asset.id, at_ns, lookback_s)
    return img if isinstance(img, CameraImage) else None


def recent_notes(store: StoreView, asset: Asset, at_ns: int, history_s: float) -> list[NoteView]:
    """Newest first; notes are redacted again here, whatever ingest did (defence in depth)."""
    start = at_ns - int(history_s * NS_PER_S)
    notes = [
        r
        for r in store.readings(Modality.NOTES, asset.id, start, at_ns + 1)
        if isinstance(r, OperatorNote)
    ]
    return [
        NoteView(n.header.ts_ns, redact(n.text).text, bool(n.author.strip()))
        for n in reversed(notes)
    ]
