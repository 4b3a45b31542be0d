"""Bearing defect and gear mesh frequencies from geometry and shaft speed.

Conventions (used everywhere in plantwatch: simulator, model features, dashboard markers,
evaluation):

- ``bsf`` is the ball SPIN frequency, the textbook 1x convention:
  BSF = D / (2 d) * (1 - (d/D cos a)^2). A spall on a ball strikes the inner and the outer race
  once each per spin revolution, so a ball fault's impacts repeat at ``ball_defect`` = 2 x BSF.
  CWRU's "rolling element" multiple (4.7135 for the 6205) is that 2 x BSF figure.
- ``bpfo``/``bpfi``/``ftf`` are the outer-race, inner-race ball-pass and cage (fundamental train)
  frequencies for a stationary outer race and a rotating inner race.
- Frequencies are in Hz; ``orders`` are the same quantities per shaft revolution (shaft_hz = 1).
"""

from __future__ import annotations

import dataclasses
import math

from plant.config.assets import BearingGeometry, GearStage
from plant.labels import FaultClass


@dataclasses.dataclass(frozen=True, slots=True)
class DefectFrequencies:
    """Characteristic bearing frequencies in Hz (or in orders when ``shaft_hz`` is 1)."""

    shaft_hz: float
    bpfo_hz: float  # ball pass frequency, outer race
    bpfi_hz: float  # ball pass frequency, inner race
    bsf_hz: float  # ball spin frequency (1x convention)
    ftf_hz: float  # fundamental train (cage) frequency

    @property
    def ball_defect_hz(self) -> float:
        """Impact rate of a spall on a ball: it hits both races once per spin, 2 x BSF."""
        return 2.0 * self.bsf_hz

    @property
    def orders(self) -> DefectFrequencies:
        """The same frequencies per shaft revolution (shaft order 1)."""
        s = self.shaft_hz
        return DefectFrequencies(
            1.0, self.bpfo_hz / s, self.bpfi_hz / s, self.bsf_hz / s, self.ftf_hz / s
        )

    def for_fault(self, fault: FaultClass) -> float:
        """The impact repetition frequency (Hz) a bearing fault class shows in the envelope."""
        table = {
            FaultClass.BEARING_OUTER: self.bpfo_hz,
            FaultClass.BEARING_INNER: self.bpfi_hz,
            FaultClass.BEARING_BALL: self.ball_defect_hz,
        }
        if fault not in table:
            raise ValueError(f"{fault} is not a bearing fault; expected one of {sorted(table)}")
        return table[fault]

    def markers(self) -> dict[str, float]:
        """Named marker frequencies in Hz, e.g. for a spectrum plot."""
        return {
            "1x": self.shaft_hz,
            "FTF": self.ftf_hz,
            "BSF": self.bsf_hz,
            "2xBSF": self.ball_defect_hz,
            "BPFO": self.bpfo_hz,
            "BPFI": self.bpfi_hz,
        }


def defect_frequencies(geometry: BearingGeometry, shaft_hz: float) -> DefectFrequencies:
    """BPFO, BPFI, BSF (1x spin), FTF in Hz for ``geometry`` at ``shaft_hz``.

    >>> g = BearingGeometry(n_elements=9, ball_diameter_mm=7.94, pitch_diameter_mm=39.04)
    >>> round(defect_frequencies(g, 1.0).bpfi_hz, 3)
    5.415
    """
    if not shaft_hz > 0:
        raise ValueError(f"shaft_hz must be > 0, got {shaft_hz}")
    ratio = geometry.ball_diameter_mm / geometry.pitch_diameter_mm
    rc = ratio * math.cos(math.radians(geometry.contact_angle_deg))
    z = geometry.n_elements
    return DefectFrequencies(
        shaft_hz=shaft_hz,
        bpfo_hz=shaft_hz * z / 2.0 * (1.0 - rc),
        bpfi_hz=shaft_hz * z / 2.0 * (1.0 + rc),
        bsf_hz=shaft_hz / (2.0 * ratio) * (1.0 - rc * rc),
        ftf_hz=shaft_hz / 2.0 * (1.0 - rc),
    )


@dataclasses.dataclass(frozen=True, slots=True)
class GearFrequencies:
    """One gear stage: mesh frequency and the two shaft rates its sidebands sit at (Hz)."""

    input_shaft_hz: float
    output_shaft_hz: float
    mesh_hz: float


def gear_frequencies(gear: GearStage, input_shaft_hz: float) -> GearFrequencies:
    """Gear mesh frequency = input teeth x input shaft rate; output shaft = input x Zin / Zout."""
    if not input_shaft_hz > 0:
        raise ValueError(f"input_shaft_hz must be > 0, got {input_shaft_hz}")
    return GearFrequencies(
        input_shaft_hz=input_shaft_hz,
        output_shaft_hz=input_shaft_hz * gear.input_teeth / gear.output_teeth,
        mesh_hz=input_shaft_hz * gear.input_teeth,
    )


# The shaft-order lines a condition monitor watches on every asset (DESIGN.md §4): shaft 1x and
# its sub-harmonic (looseness), the four bearing-defect rates, and the gear output shaft (a cracked
# tooth on the output gear strikes once per output revolution; 0 where there is no gear).
KINEMATIC_LINES: tuple[str, ...] = ("1x", "0.5x", "BPFO", "BPFI", "BSF", "2xBSF", "FTF", "gear_out")


def kinematic_orders(bearing: BearingGeometry, gear: GearStage | None = None) -> tuple[float, ...]:
    """The orders (multiples of shaft speed) of :data:`KINEMATIC_LINES` for one asset."""
    d = defect_frequencies(bearing, 1.0)
    out = gear.input_teeth / gear.output_teeth if gear is not None else 0.0
    return (1.0, 0.5, d.bpfo_hz, d.bpfi_hz, d.bsf_hz, d.ball_defect_hz, d.ftf_hz, out)
