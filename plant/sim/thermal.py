"""First-order thermal model of bearing and winding probes, driven by load, ambient and faults.

Each probe relaxes towards a steady state ``ambient + normal rise(load, speed) + fault heat``
with its own time constant (bearings 20-35 min, windings 35-60 min, per asset), exactly
discretised on the simulator's grid (an exponential filter, so a day of one asset is one
``lfilter`` call). Bearing friction heat grows with speed and load, winding copper losses with
load squared. Fault heat comes from the fault table (``FaultSpec.heat``: the rise at functional
failure by probe kind), scaled by thermal visibility and present only while the shaft turns.
Readings add probe noise and 0.1 °C quantisation; stuck probes are applied by the disorder layer.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

from plant.config import Asset, SensorConfig
from plant.readings import Modality
from plant.sim.context import ContextArrays
from plant.sim.episodes import ScheduledFault
from plant.sim.streams import Stream, substream

NS_PER_S = 1_000_000_000
NOISE_C = 0.05  # a good RTD module; PRONOSTIA's lab RTD is quieter still (SIMULATOR.md)
RESOLUTION_C = 0.1
# kind -> (time constant range in minutes, full-load rise range in °C)
PROBE_KINDS: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "bearing": ((20.0, 35.0), (18.0, 30.0)),
    "winding": ((35.0, 60.0), (45.0, 65.0)),
    "casing": ((40.0, 70.0), (10.0, 18.0)),
}


def probe_kind(channel: str) -> str:
    for kind in ("winding", "bearing"):
        if kind in channel:
            return kind
    return "casing"


class ThermalModel:
    """One temperature module: its probes' true temperatures, advanced chunk by chunk."""

    def __init__(self, asset: Asset, sensor: SensorConfig, seed: int, sensor_index: int) -> None:
        self.channels = tuple(sensor.channels)
        self.kinds = tuple(probe_kind(c) for c in self.channels)
        rng = substream(seed, asset.index, Stream.ASSET, 100 + sensor_index)
        self.tau_s = np.array([rng.uniform(*PROBE_KINDS[k][0]) * 60.0 for k in self.kinds])
        rise = np.array([rng.uniform(*PROBE_KINDS[k][1]) for k in self.kinds])
        nde = np.array(["nde" in c for c in self.channels])
        self.rise_c = np.where(nde, 0.85 * rise, rise)
        self._speed_hi_hz = asset.config.speed_rpm[1] / 60.0
        self._temp_c: np.ndarray | None = None  # (P,) state at the end of the last chunk
        self._last_ns: int | None = None

    def steady_c(self, ctx: ContextArrays, fault_heat_c: np.ndarray) -> np.ndarray:
        """(T, P) steady-state temperature the probes relax towards."""
        speed = np.clip(ctx.shaft_speed_hz / self._speed_hi_hz, 0.0, 1.2)[:, None]
        load = ctx.load_fraction[:, None]
        kinds = np.array(self.kinds)
        turning = (speed > 0).astype(np.float64)
        rise = np.where(
            kinds == "bearing",
            speed * (0.4 + 0.6 * load),
            np.where(kinds == "winding", turning * (0.25 + 0.75 * load**2), load),
        )
        return ctx.ambient_c[:, None] + self.rise_c * rise + fault_heat_c

    def advance(self, ctx: ContextArrays, fault_heat_c: np.ndarray) -> np.ndarray:
        """(T, P) true probe temperatures on ``ctx``'s grid (uniform step), continuing state."""
        target = self.steady_c(ctx, fault_heat_c)
        if len(ctx.ts_ns) == 0:
            return target
        dt_s = float(np.diff(ctx.ts_ns[:2])[0]) / NS_PER_S if len(ctx.ts_ns) > 1 else 10.0
        a = np.exp(-dt_s / self.tau_s)  # (P,)
        if self._temp_c is None:
            self._temp_c = target[0].copy()  # start in equilibrium
        out = np.empty_like(target)
        for p in range(target.shape[1]):  # a handful of probes: one lfilter each
            out[:, p], _ = lfilter(
                [1 - a[p]], [1, -a[p]], target[:, p], zi=[a[p] * self._temp_c[p]]
            )
        self._temp_c = out[-1].copy()
        return out


def fault_heat_c(
    channels: tuple[str, ...],
    faults: list[ScheduledFault],
    ts_ns: np.ndarray,
    turning: np.ndarray,
) -> np.ndarray:
    """(T, P) extra steady-state heat from the active faults (only while the shaft turns)."""
    heat = np.zeros((len(ts_ns), len(channels)))
    for f in faults:
        if not f.spec.heat:
            continue
        vis = f.spec.visibility(Modality.THERMAL, f.episode.severity(ts_ns))
        if not np.any(vis):
            continue
        nde_side = f.location % 3 == 2  # a third of bearing faults sit at the non-drive end
        for p, ch in enumerate(channels):
            kind = probe_kind(ch)
            rise = f.spec.heat.get(kind, 0.0)
            if kind == "bearing" and ("nde" in ch) != nde_side:
                rise *= 0.3  # heat conducts along the shaft to the other bearing, weaker
            heat[:, p] += rise * vis
    return heat * turning[:, None]


def measured_c(true_c: np.ndarray, z: np.ndarray) -> np.ndarray:
    """What the probes report: true temperature plus noise (``z``: standard normals), quantised."""
    noisy = true_c + NOISE_C * z
    return np.round(noisy / RESOLUTION_C) * RESOLUTION_C
