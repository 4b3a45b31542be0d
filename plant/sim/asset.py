"""One asset's simulation: faults, context, thermal, vibration, camera and notes, chunk by chunk.

``AssetSimulator.chunk(t0, t1)`` returns the asset's messages of [t0, t1) as
(publish_ns, reading) pairs. Chunks must come in time order (thermal state, epochs and sequence
numbers carry over); every random draw is keyed by (seed, asset, purpose, message index or hour),
so the asset's data does not depend on the plant's size or on where chunks are cut.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from plant.config import Asset, PlantConfig, SensorConfig
from plant.labels import FaultClass
from plant.readings import (
    CameraImage,
    ContextReading,
    Header,
    Modality,
    OperatorNote,
    Reading,
    ThermalReading,
    VibrationSnapshot,
)
from plant.sim.camera import CameraScene, camera_defects
from plant.sim.context import STATES, ContextArrays, ContextModel
from plant.sim.disorder import Disorder, StuckEpisode
from plant.sim.episodes import FaultScheduler, ScheduledFault
from plant.sim.notes import NoteTruth, NoteWriter
from plant.sim.streams import Stream, per_message_normals, substream
from plant.sim.thermal import ThermalModel, fault_heat_c, measured_c

NS_PER_S = 1_000_000_000
CHUNK_NS = 3600 * NS_PER_S  # the unit of simulated time computed at once
GRID_NS = 10 * NS_PER_S  # the context/thermal simulation step (finer if a sensor needs it)
NOTE_JITTER = 0.4  # notes come +-40 % of a period off their nominal time
DUPLICATE_AFTER_NS = NS_PER_S
STUCK_VIBRATION_M_S2 = 0.0


def vibration_severities(faults: list[ScheduledFault], ts_ns: int) -> dict[FaultClass, float]:
    """What the vibration model is told: per mechanism, the fault's vibration visibility."""
    out: dict[FaultClass, float] = {}
    for f in faults:
        vis = float(f.spec.visibility(Modality.VIBRATION, f.episode.severity(ts_ns)))
        if vis > 0:
            mech = f.spec.vibration_mechanism or f.spec.fault
            out[mech] = min(1.0, max(out.get(mech, 0.0), vis))
    return out


class AssetSimulator:
    """Simulates one asset of ``config``."""

    def __init__(
        self, asset: Asset, config: PlantConfig, seed: int, start_ns: int, shift: bool = False
    ) -> None:
        sim = config.simulation
        self.asset, self.seed, self.start_ns = asset, seed, start_ns
        self.faults = FaultScheduler(asset, sim, seed, start_ns)
        self.context = ContextModel(asset, sim, seed, shift)
        self.disorder = Disorder(asset, sim, seed, start_ns)
        self.sensors = [
            (j, s) for j, s in enumerate(asset.sensors) if s.modality is not self.disorder.missing
        ]
        periods = [s.period_s for _, s in self.sensors if s.modality in _GRID_MODALITIES]
        self.grid_ns = min([GRID_NS, *(int(p * NS_PER_S) for p in periods)])
        rng = substream(seed, asset.index, Stream.ASSET, 0)
        self.phase_ns = {s.id: int(rng.uniform(0, s.period_s) * NS_PER_S) for s in asset.sensors}
        self.thermal = {
            s.id: ThermalModel(asset, s, seed, j)
            for j, s in self.sensors
            if s.modality is Modality.THERMAL
        }
        self.scenes = {
            s.id: CameraScene(s.image_size or 64, seed, asset.index, shift)
            for _, s in self.sensors
            if s.modality is Modality.CAMERA
        }
        self._vibration: dict[str, object] = {}
        self.notes = NoteWriter(asset.id)
        self.note_truth: list[NoteTruth] = []
        self.stuck_seen: dict[tuple[str, str, int], StuckEpisode] = {}
        self._held: dict[tuple[str, str, int], float] = {}
        self._hour_cache: tuple[int, tuple] | None = None

    # ------------------------------------------------------------------ schedule
    def _times(self, s: SensorConfig, j: int, t0: int, t1: int) -> tuple[np.ndarray, np.ndarray]:
        """(ts_ns, k): this sensor's nominal message times in [t0, t1) and their indices."""
        p = int(s.period_s * NS_PER_S)
        base = self.start_ns + self.phase_ns[s.id]
        k = np.arange(max(0, (t0 - base) // p - 1), (t1 - base) // p + 2, dtype=np.int64)
        ts = base + k * p
        if s.modality is Modality.NOTES:
            z = per_message_normals(self.seed, self.asset.index, Stream.NOTES, j, k, 1)[:, 0]
            ts = ts + (np.tanh(z) * NOTE_JITTER * p).astype(np.int64)
        inside = (ts >= t0) & (ts < t1)
        return ts[inside], k[inside]

    def _hour(self, h: int) -> tuple:
        """Grid, context, true temperatures, active faults and stuck sensors of hour ``h``.

        Always whole hours, computed once: array lengths (and so numpy's SIMD rounding) and the
        thermal state do not depend on where a caller cuts time.
        """
        if self._hour_cache is not None and self._hour_cache[0] == h:
            return self._hour_cache[1]
        t0 = self.start_ns + h * CHUNK_NS
        t1 = t0 + CHUNK_NS
        self.faults.extend(t1)
        active = self.faults.active(t0, t1)
        grid_i0 = -(-(t0 - self.start_ns) // self.grid_ns)
        grid_i1 = -(-(t1 - self.start_ns) // self.grid_ns)
        grid = self.start_ns + np.arange(grid_i0, grid_i1, dtype=np.int64) * self.grid_ns
        maintenance = [(f.episode.failure_ns, f.episode.repair_ns) for f in active]
        ctx = self.context.compute(grid, maintenance)
        temps = {sid: m.advance(ctx, self._heat(m, active, ctx)) for sid, m in self.thermal.items()}
        stuck = self.disorder.stuck(t0, t1)
        self._hour_cache = (h, (grid, ctx, temps, active, stuck))
        return grid, ctx, temps, active, stuck

    def chunk(self, t0: int, t1: int) -> list[tuple[int, Reading]]:
        """This asset's messages in [t0, t1) as (publish_ns, reading), unsorted.

        [t0, t1) lies within one simulation hour; calls come in time order.
        """
        h = (t0 - self.start_ns) // CHUNK_NS
        if t1 > self.start_ns + (h + 1) * CHUNK_NS:
            raise ValueError(f"chunk [{t0}, {t1}) crosses an hour boundary of the simulation")
        grid, ctx, temps, active, hour_stuck = self._hour(h)
        stuck = [e for e in hour_stuck if e.end_ns > t0 and e.start_ns < t1]
        for e in stuck:
            self.stuck_seen[(e.sensor, e.channel, e.start_ns)] = e
        out: list[tuple[int, Reading]] = []
        for j, s in self.sensors:
            ts, k = self._times(s, j, t0, t1)
            if len(ts) == 0:
                continue
            em = self.disorder.emissions(s.id, j, ts, k)
            idx = np.flatnonzero(em.keep)
            gi = np.clip((ts[idx] - grid[0]) // self.grid_ns, 0, len(grid) - 1)
            aid, sid = self.asset.id, s.id
            headers = [
                Header(aid, sid, t, e, q)
                for t, e, q in zip(
                    em.header_ts_ns[idx].tolist(),
                    em.epoch[idx].tolist(),
                    em.seq[idx].tolist(),
                    strict=True,
                )
            ]
            batch = Batch(s, j, headers, ts[idx], k[idx], gi)
            readings = _MAKERS[s.modality](self, batch, ctx, temps, active, stuck)
            publish = em.publish_ns[idx].tolist()
            out.extend(zip(publish, readings, strict=True))
            for i in np.flatnonzero(em.duplicate[idx]).tolist():
                out.append((publish[i] + DUPLICATE_AFTER_NS, readings[i]))
        return out

    def _heat(self, m: ThermalModel, active: list[ScheduledFault], ctx: ContextArrays):
        return fault_heat_c(m.channels, active, ctx.ts_ns, ctx.shaft_speed_hz > 0)

    # ------------------------------------------------------------------ readings
    def _context(self, b: Batch, ctx: ContextArrays, temps, active, stuck) -> list[Reading]:
        z = per_message_normals(self.seed, self.asset.index, Stream.CONTEXT, b.j, b.k, 2)
        speed = np.round(ctx.shaft_speed_hz[b.gi] * (1 + 1e-3 * z[:, 0]), 3).tolist()
        load = np.round(ctx.load_fraction[b.gi], 3).tolist()
        ambient = np.round(ctx.ambient_c[b.gi] + 0.1 * z[:, 1], 1).tolist()
        state = [STATES[x] for x in ctx.state[b.gi].tolist()]
        return [
            ContextReading(h, v, ld, am, st)
            for h, v, ld, am, st in zip(b.headers, speed, load, ambient, state, strict=True)
        ]

    def _thermal(self, b: Batch, ctx, temps, active, stuck) -> list[Reading]:
        names = b.sensor.channels
        z = per_message_normals(self.seed, self.asset.index, Stream.THERMAL, b.j, b.k, len(names))
        values = measured_c(temps[b.sensor.id][b.gi], z)  # (n, P)
        for e in stuck:
            if e.sensor != b.sensor.id:
                continue
            inside = (b.ts >= e.start_ns) & (b.ts < e.end_ns)
            if inside.any():
                p = names.index(e.channel)
                key = (e.sensor, e.channel, e.start_ns)
                held = self._held.setdefault(key, float(values[np.argmax(inside), p]))
                values[inside, p] = held
        rows = values.tolist()
        return [
            ThermalReading(h, dict(zip(names, row, strict=True)))
            for h, row in zip(b.headers, rows, strict=True)
        ]

    def _vib_model(self, s: SensorConfig):
        model = self._vibration.get(s.id)
        if model is None:
            from plant.sim.vibration import VibrationModel  # the physics engineer's model

            model = self._vibration[s.id] = VibrationModel(self.asset, s)
        return model

    def _vibration_snapshots(self, b: Batch, ctx, temps, active, stuck) -> list[Reading]:
        s, model, out = b.sensor, self._vib_model(b.sensor), []
        for h, ts, k, gi in zip(b.headers, b.ts.tolist(), b.k.tolist(), b.gi.tolist(), strict=True):
            rng = substream(self.seed, self.asset.index, Stream.VIBRATION, b.j, k)
            load = float(np.clip(ctx.load_fraction[gi], 0.0, 1.5))
            speed = float(ctx.shaft_speed_hz[gi])
            samples = model.snapshot(speed, load, vibration_severities(active, ts), rng)
            for e in stuck:
                if e.sensor == s.id and e.start_ns <= ts < e.end_ns:
                    samples[s.channels.index(e.channel)] = STUCK_VIBRATION_M_S2
            out.append(VibrationSnapshot(h, float(s.sample_rate_hz), s.channels, samples))
        return out

    def _camera(self, b: Batch, ctx, temps, active, stuck) -> list[Reading]:
        scene, out = self.scenes[b.sensor.id], []
        for h, ts, k in zip(b.headers, b.ts.tolist(), b.k.tolist(), strict=True):
            rng = substream(self.seed, self.asset.index, Stream.CAMERA, b.j, k)
            out.append(CameraImage(h, scene.render(camera_defects(active, ts), rng)))
        return out

    def _notes(self, b: Batch, ctx, temps, active, stuck) -> list[Reading]:
        out = []
        for h, ts, k, gi in zip(b.headers, b.ts.tolist(), b.k.tolist(), b.gi.tolist(), strict=True):
            rng = substream(self.seed, self.asset.index, Stream.NOTES, b.j, k)
            probes = {}
            for sid, t in temps.items():
                probes.update(zip(self.thermal[sid].channels, t[gi].tolist(), strict=True))
            state = STATES[int(ctx.state[gi])].value
            load = float(ctx.load_fraction[gi])
            text, author, truth = self.notes.write(ts, state, active, probes, load, rng)
            self.note_truth.append(truth)
            out.append(OperatorNote(h, text, author))
        return out


@dataclasses.dataclass(frozen=True, slots=True)
class Batch:
    """The kept messages of one sensor in one chunk."""

    sensor: SensorConfig
    j: int  # the sensor's index on the asset
    headers: list[Header]
    ts: np.ndarray  # (n,) true times
    k: np.ndarray  # (n,) message indices
    gi: np.ndarray  # (n,) grid indices


_GRID_MODALITIES = (Modality.THERMAL, Modality.CONTEXT)
_MAKERS = {
    Modality.CONTEXT: AssetSimulator._context,
    Modality.THERMAL: AssetSimulator._thermal,
    Modality.VIBRATION: AssetSimulator._vibration_snapshots,
    Modality.CAMERA: AssetSimulator._camera,
    Modality.NOTES: AssetSimulator._notes,
}
