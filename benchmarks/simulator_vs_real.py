"""Simulated vibration against real bearings: CWRU records vs plantwatch's VibrationModel.

The same envelope routine (plant.physics.envelope) runs on the real CWRU drive-end records in
../shared/data/cwru-bearing and on snapshots simulated with CWRU's bearing (SKF 6205), speed
(1797 rpm) and sampling rate (12 kHz). Writes the markdown tables into docs/SIMULATOR.md between
the markers <!-- BEGIN simulator_vs_real --> and <!-- END simulator_vs_real -->.

    .venv/bin/python benchmarks/simulator_vs_real.py [--data ../shared/data] [--no-write]

Units: CWRU's files carry no units and are treated as g (PROVENANCE.md); simulated m/s2 are
divided by 9.80665 to compare.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
import scipy.io
import scipy.signal
from vibration_speed import speed_line  # benchmarks/ is on sys.path when run as a script

from plant.config import AssetConfig, BearingGeometry, SensorConfig
from plant.config.plant import Asset
from plant.labels import FaultClass
from plant.physics.bearing import DefectFrequencies, defect_frequencies
from plant.physics.envelope import (
    crest_factor,
    dominant_peak,
    envelope_spectrum,
    kurtosis,
    peak_near,
    rms,
)
from plant.sim.vibration import VibrationModel

G_M_S2 = 9.80665
FS_HZ = 12_000.0
CWRU_RPM = 1797.0
BEARING_6205 = {"n_elements": 9, "ball_diameter_mm": 7.94, "pitch_diameter_mm": 39.04}
CONDITIONS = {  # condition -> (fault class, CWRU file stems)
    "normal": (FaultClass.NORMAL, ("Normal_0",)),
    "outer race": (FaultClass.BEARING_OUTER, ("OR007@6_0", "OR014@6_0", "OR021@6_0")),
    "inner race": (FaultClass.BEARING_INNER, ("IR007_0", "IR014_0", "IR021_0")),
    "ball": (FaultClass.BEARING_BALL, ("B007_0", "B014_0", "B021_0")),
}
SIM_SEVERITIES = (0.05, 0.1, 0.15, 0.3, 0.6, 1.0)
SIM_ASSETS = 8
SIM_SNAPSHOTS = 5  # per asset and condition
PEAK_RANGE_HZ = (40.0, 400.0)  # where the dominant envelope peak is looked for (PROVENANCE.md)
REPO = Path(__file__).resolve().parent.parent
MARK_BEGIN, MARK_END = "<!-- BEGIN simulator_vs_real -->", "<!-- END simulator_vs_real -->"


def load_cwru_de(path: Path) -> tuple[np.ndarray, float, float]:
    """(drive-end signal in g at 12 kHz, fs, rpm). The 48 kHz normal record is decimated by 4."""
    mat = scipy.io.loadmat(path)
    signal = next(v for k, v in mat.items() if k.endswith("_DE_time")).ravel().astype(np.float64)
    rpm_keys = [k for k in mat if k.endswith("RPM")]
    rpm = float(mat[rpm_keys[0]].ravel()[0]) if rpm_keys else CWRU_RPM
    if path.parent.name == "Normal":  # 48 kHz, PROVENANCE.md
        signal = scipy.signal.decimate(signal, 4, ftype="fir")
    return signal, FS_HZ, rpm


def cwru_path(data: Path, stem: str) -> Path:
    folder = "Normal" if stem.startswith("Normal") else "12k_DE"
    return data / "cwru-bearing" / "Data" / folder / f"{stem}.mat"


def cwru_like_asset(index: int) -> tuple[Asset, SensorConfig]:
    """A motor with CWRU's drive-end bearing, speed and sampling rate, one radial axis."""
    sensor = SensorConfig(
        id="vib-de",
        modality="vibration",
        channels=("x",),
        sample_rate_hz=FS_HZ,
        snapshot_s=1.0,
        period_s=600,
    )
    cfg = AssetConfig(
        id=f"cwru-like-{index:02d}",
        area="test",
        type="motor-pump",
        speed_rpm=(CWRU_RPM, CWRU_RPM),
        rated_power_kw=1.5,
        bearing=BEARING_6205,
        sensors=(sensor,),
    )
    return Asset(cfg.id, "bench", cfg, (sensor,), index), sensor


@dataclasses.dataclass
class SegmentStats:
    """Per 1 s segment: time statistics (g) and the envelope's dominant peak."""

    rms_g: list[float] = dataclasses.field(default_factory=list)
    kurtosis: list[float] = dataclasses.field(default_factory=list)
    crest: list[float] = dataclasses.field(default_factory=list)
    peak_order: list[float] = dataclasses.field(default_factory=list)  # dominant, 40-400 Hz
    hits: list[bool] = dataclasses.field(default_factory=list)  # dominant peak at the defect
    prominence: list[float] = dataclasses.field(default_factory=list)  # at the defect frequency

    def add(self, x_g: np.ndarray, shaft_hz: float, defect_hz: float) -> None:
        self.rms_g.append(float(rms(x_g)))
        self.kurtosis.append(float(kurtosis(x_g)))
        self.crest.append(float(crest_factor(x_g)))
        spec = envelope_spectrum(x_g, FS_HZ)
        peak = dominant_peak(spec, *PEAK_RANGE_HZ)
        self.peak_order.append(peak.freq_hz / shaft_hz)
        tolerance_hz = max(0.01 * defect_hz, 1.5 * spec.resolution_hz)  # the criterion
        self.hits.append(abs(peak.freq_hz - defect_hz) <= tolerance_hz)
        self.prominence.append(peak_near(spec, defect_hz).prominence)


def real_stats(data: Path) -> dict[str, SegmentStats]:
    """Each CWRU record cut into 1 s segments."""
    out: dict[str, SegmentStats] = {}
    for fault, stems in CONDITIONS.values():
        for stem in stems:
            x, fs, rpm = load_cwru_de(cwru_path(data, stem))
            shaft_hz = rpm / 60.0
            freqs = defect_frequencies(_geometry(), shaft_hz)
            stats = out.setdefault(stem, SegmentStats())
            defect = _defect_hz(freqs, fault)
            for seg in x[: len(x) // int(fs) * int(fs)].reshape(-1, int(fs)):
                stats.add(seg, shaft_hz, defect)
    return out


def sim_stats(severities: tuple[float, ...] = SIM_SEVERITIES) -> dict[tuple, SegmentStats]:
    """Simulated snapshots: SIM_ASSETS CWRU-like assets x SIM_SNAPSHOTS per condition."""
    out: dict[tuple, SegmentStats] = {}
    shaft_hz = CWRU_RPM / 60.0
    freqs = defect_frequencies(_geometry(), shaft_hz)
    for i in range(SIM_ASSETS):
        asset, sensor = cwru_like_asset(i)
        model = VibrationModel(asset, sensor)
        rng = np.random.default_rng(1000 + i)
        for condition, (fault, _) in CONDITIONS.items():
            levels = (0.0,) if fault is FaultClass.NORMAL else severities
            for s in levels:
                defect = _defect_hz(freqs, fault)
                stats = out.setdefault((condition, s), SegmentStats())
                for _ in range(SIM_SNAPSHOTS):
                    x = model.snapshot(shaft_hz, 0.0, {fault: s} if s else {}, rng)[0]
                    stats.add(x.astype(np.float64) / G_M_S2, shaft_hz, defect)
    return out


def _geometry() -> BearingGeometry:
    return BearingGeometry(**BEARING_6205)


def _defect_hz(freqs: DefectFrequencies, fault: FaultClass) -> float:
    """The fault's defect frequency; for the healthy/normal case, BPFO (a false-peak check)."""
    return freqs.bpfo_hz if fault is FaultClass.NORMAL else freqs.for_fault(fault)


# --- tables ----------------------------------------------------------------------------------

DEVELOPED = (0.6, 1.0)  # simulated severities as loud as CWRU's seeded 0.007-0.021 in faults
ONSET = (0.05, 0.1, 0.15)


def _span(values: list[float], fmt: str = ".3g") -> str:
    return f"{min(values):{fmt}}–{max(values):{fmt}}"


def _pooled(stats: list[SegmentStats], field: str) -> list[float]:
    return [v for s in stats for v in getattr(s, field)]


def peaks_table(real: dict[str, SegmentStats], sim: dict[tuple, SegmentStats]) -> str:
    orders = defect_frequencies(_geometry(), 1.0)
    rows = [
        "| source | condition | defect order | median dominant envelope peak (order) | "
        "segments with the dominant peak at the defect | median prominence at the defect |",
        "|---|---|---|---|---|---|",
    ]
    for condition, (fault, stems) in CONDITIONS.items():
        order = _defect_hz(orders, fault)
        label = "BPFO (false-peak check)" if fault is FaultClass.NORMAL else f"{order:.4f}"
        for stem in stems:
            r = real[stem]
            rows.append(
                f"| CWRU {stem} | {condition} | {label} | {np.median(r.peak_order):.3f} | "
                f"{sum(r.hits)}/{len(r.hits)} | {np.median(r.prominence):.1f} |"
            )
        levels = (0.0,) if fault is FaultClass.NORMAL else SIM_SEVERITIES
        for s in levels:
            m = sim[(condition, s)]
            rows.append(
                f"| simulated, severity {s:g} | {condition} | {label} | "
                f"{np.median(m.peak_order):.3f} | {sum(m.hits)}/{len(m.hits)} | "
                f"{np.median(m.prominence):.1f} |"
            )
    return "\n".join(rows)


def stats_table(real: dict[str, SegmentStats], sim: dict[tuple, SegmentStats]) -> str:
    rows = [
        "| condition | statistic | CWRU range (1 s segments) | simulated range | CWRU median "
        "| simulated median | sim median in CWRU range | CWRU median in sim range |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for condition, (fault, stems) in CONDITIONS.items():
        levels = (0.0,) if fault is FaultClass.NORMAL else DEVELOPED
        r_stats = [real[s] for s in stems]
        s_stats = [sim[(condition, s)] for s in levels]
        for field, name in (("rms_g", "RMS (g)"), ("kurtosis", "kurtosis"), ("crest", "crest")):
            rv, sv = _pooled(r_stats, field), _pooled(s_stats, field)
            r_med, s_med = float(np.median(rv)), float(np.median(sv))
            sim_in = "yes" if min(rv) <= s_med <= max(rv) else "**no**"
            real_in = "yes" if min(sv) <= r_med <= max(sv) else "**no**"
            rows.append(
                f"| {condition} | {name} | {_span(rv)} | {_span(sv)} | {r_med:.3g} | "
                f"{s_med:.3g} | {sim_in} | {real_in} |"
            )
    return "\n".join(rows)


def onset_table(real: dict[str, SegmentStats], sim: dict[tuple, SegmentStats]) -> str:
    """How far a fault stands out from healthy: gains of median kurtosis and RMS, prominence."""
    cols = ["CWRU 0.007 in vs normal"] + [f"sim severity {s:g} vs sim healthy" for s in ONSET]
    rows = [
        "| condition | " + " | ".join(cols) + " |",
        "|---|" + "---|" * len(cols),
        "| | " + " | ".join(["kurtosis gain, RMS gain, prominence"] * len(cols)) + " |",
    ]
    normal, healthy = real["Normal_0"], sim[("normal", 0.0)]

    def cell(x: SegmentStats, base: SegmentStats) -> str:
        k = np.median(x.kurtosis) / np.median(base.kurtosis)
        r = np.median(x.rms_g) / np.median(base.rms_g)
        return f"{k:.2f}, {r:.2f}, {np.median(x.prominence):.1f}"

    for condition, (fault, stems) in CONDITIONS.items():
        if fault is not FaultClass.NORMAL:
            cells = [cell(real[stems[0]], normal)]
            cells += [cell(sim[(condition, s)], healthy) for s in ONSET]
            rows.append(f"| {condition} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def render(data: Path) -> str:
    real, sim = real_stats(data), sim_stats()
    return "\n\n".join(
        [
            f"Generated by `benchmarks/simulator_vs_real.py` on {time.strftime('%Y-%m-%d')}. "
            f"Simulated: {SIM_ASSETS} CWRU-like assets (SKF 6205, 1797 rpm, 12 kHz, load 0) x "
            f"{SIM_SNAPSHOTS} one-second snapshots per condition; CWRU: each record cut into "
            "1 s segments, the normal record decimated from 48 kHz. Envelope: "
            "`plant.physics.envelope.envelope_spectrum` with the kurtogram-lite band; dominant "
            "peak searched in 40–400 Hz; a hit is within the larger of 1 % and 1.5 bins.",
            "### Envelope-spectrum peaks at the defect orders\n\n" + peaks_table(real, sim),
            "### Time statistics, healthy and developed faults (simulated severities "
            f"{', '.join(map(str, DEVELOPED))})\n\n" + stats_table(real, sim),
            "### Onset against CWRU's smallest faults\n\n" + onset_table(real, sim),
            speed_line(),
        ]
    )


def write_between_markers(doc: Path, body: str) -> None:
    text = doc.read_text()
    if MARK_BEGIN not in text or MARK_END not in text:
        raise SystemExit(f"{doc} lacks the markers {MARK_BEGIN} / {MARK_END}")
    head, rest = text.split(MARK_BEGIN, 1)
    _, tail = rest.split(MARK_END, 1)
    doc.write_text(f"{head}{MARK_BEGIN}\n{body}\n{MARK_END}{tail}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--doc", type=Path, default=REPO / "docs" / "SIMULATOR.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    body = render(args.data)
    print(body)
    if not args.no_write:
        write_between_markers(args.doc, body)
        print(f"\nwritten into {args.doc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
