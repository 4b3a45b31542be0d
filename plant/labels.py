"""Ground-truth labels: fault episodes per asset, and the severity they imply at any time.

A fault episode runs onset -> growth -> functional failure -> repair. Severity is 0 before onset,
starts at the episode's ``onset_severity`` (the fault's size when it is first there to be found:
the P point of the reliability engineer's P-F curve, set per fault type by the simulator's fault
table), rises to 1 at functional failure (F), stays 1 until the repair and is 0 after it. The
degradation interval is P to F. A window is a *fault window* when the asset's severity at the
window's time is past onset (> 0). DESIGN.md section 3.
"""

from __future__ import annotations

import dataclasses
from enum import StrEnum

import numpy as np

from plant.readings import Modality


class FaultClass(StrEnum):
    """The documented list of fault classes (docs/SIMULATOR.md describes each)."""

    NORMAL = "normal"
    BEARING_OUTER = "bearing_outer"
    BEARING_INNER = "bearing_inner"
    BEARING_BALL = "bearing_ball"
    IMBALANCE = "imbalance"
    MISALIGNMENT = "misalignment"
    LOOSENESS = "looseness"
    GEAR_TOOTH = "gear_tooth"
    LUBRICATION_STARVATION = "lubrication_starvation"
    COOLING_FAILURE = "cooling_failure"
    CASING_CRACK = "casing_crack"
    OIL_LEAK = "oil_leak"
    CORROSION = "corrosion"
    MISSING_GUARD = "missing_guard"
    SEAL_WEAR = "seal_wear"


FAULT_CLASSES: tuple[FaultClass, ...] = tuple(FaultClass)
FAULT_INDEX: dict[FaultClass, int] = {f: i for i, f in enumerate(FAULT_CLASSES)}


@dataclasses.dataclass(frozen=True, slots=True)
class FaultEpisode:
    """One fault on one asset, from onset to repair. Times are UTC int64 ns."""

    asset: str
    fault: FaultClass
    onset_ns: int
    failure_ns: int  # functional failure: severity reaches 1
    repair_ns: int  # repaired: severity back to 0; >= failure_ns
    visible_in: frozenset[Modality]
    primary: Modality
    growth_exponent: float = 2.0  # severity = s0 + (1 - s0) * ((t - onset) / (F - onset)) ** exp
    onset_severity: float = 0.0  # s0: severity at onset (imported history: 0 unless known)

    def __post_init__(self) -> None:
        if not self.onset_ns < self.failure_ns <= self.repair_ns:
            raise ValueError(
                f"episode {self.asset}/{self.fault}: need onset < failure <= repair, got "
                f"{self.onset_ns}, {self.failure_ns}, {self.repair_ns}"
            )
        if not 0.0 <= self.onset_severity < 1.0:
            raise ValueError(f"onset_severity {self.onset_severity} must be in [0, 1)")
        if self.primary not in self.visible_in:
            raise ValueError(f"primary modality {self.primary} not in visible_in {self.visible_in}")

    def severity(self, ts_ns: np.ndarray | int) -> np.ndarray:
        """Severity in [0, 1] at ``ts_ns`` (vectorised)."""
        t = np.asarray(ts_ns, dtype=np.int64)
        frac = (t - self.onset_ns) / float(self.failure_ns - self.onset_ns)
        s0 = self.onset_severity
        sev = s0 + (1.0 - s0) * np.clip(frac, 0.0, 1.0) ** self.growth_exponent
        active = (t > self.onset_ns) & (t < self.repair_ns)
        return np.where(active, np.maximum(sev, 1e-6), 0.0)

    @property
    def degradation_ns(self) -> int:
        return self.failure_ns - self.onset_ns


def severity_at(episodes: list[FaultEpisode], asset: str, ts_ns: np.ndarray) -> np.ndarray:
    """The asset's worst severity over all its episodes at each time in ``ts_ns``."""
    out = np.zeros(np.shape(ts_ns), dtype=np.float64)
    for e in episodes:
        if e.asset == asset:
            out = np.maximum(out, e.severity(ts_ns))
    return out


def active_fault(episodes: list[FaultEpisode], asset: str, ts_ns: int) -> FaultEpisode | None:
    """The episode with the highest severity on ``asset`` at ``ts_ns``, or None if healthy."""
    best, best_sev = None, 0.0
    for e in episodes:
        if e.asset == asset:
            s = float(e.severity(ts_ns))
            if s > best_sev:
                best, best_sev = e, s
    return best
