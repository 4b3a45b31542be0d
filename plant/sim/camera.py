"""Procedural inspection images: a painted casing with bolts, a coupling guard and a shaft.

Each camera has a fixed scene (colours, bolt positions) drawn once per asset; each image then
varies lighting (gain, gradient, colour cast), viewpoint (a jittered crop of a larger canvas)
and sensor noise. Defects grow with their camera visibility (plant.sim.faults): an oil-leak
stain spreading down from the seal, corrosion spots, a crack lengthening from a flange corner,
heat discolouration round the bearing housing, a bolt gone, the guard removed. All numpy,
vectorised: ~0.3 ms an image at 64x64.
"""

from __future__ import annotations

import numpy as np

from plant.readings import Modality
from plant.sim.streams import Stream, memo, substream

PAINTS = np.array(
    [[0.20, 0.42, 0.30], [0.18, 0.30, 0.55], [0.45, 0.47, 0.50], [0.62, 0.20, 0.16]],
    dtype=np.float32,
)  # machine green, blue, grey, red
GUARD_YELLOW = np.array([0.85, 0.68, 0.10], dtype=np.float32)
STAIN = np.array([0.10, 0.07, 0.03], dtype=np.float32)
RUST = np.array([0.55, 0.27, 0.08], dtype=np.float32)
HEAT_TINT = np.array([0.35, 0.30, 0.60], dtype=np.float32)  # blued steel
NOISE_SD = 0.025


class CameraScene:
    """One camera's view of one asset: the healthy scene and where defects will appear."""

    def __init__(self, image_size: int, seed: int, asset_index: int, shifted: bool = False) -> None:
        self.size = image_size
        self.margin = max(2, image_size // 10)
        s = self.canvas = image_size + 2 * self.margin
        rng = substream(seed, asset_index, Stream.ASSET, 200)
        self.shifted = shifted
        yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) / s
        self.yy, self.xx = yy, xx
        paint = PAINTS[rng.integers(len(PAINTS))] * rng.uniform(0.9, 1.1)
        wall = np.float32(rng.uniform(0.35, 0.55))
        img = np.empty((s, s, 3), np.float32)  # float32 RGB in [0, 1]
        img[:] = wall * (0.9 + 0.2 * yy[..., None])
        casing = (xx > 0.12) & (xx < 0.62) & (yy > 0.18) & (yy < 0.82)
        fins = 0.9 + 0.1 * (np.sin(yy * s * 1.3) > 0)
        img[casing] = (paint * fins[..., None])[casing]
        shaft = (xx >= 0.62) & (yy > 0.45) & (yy < 0.55)
        img[shaft] = np.float32(0.55) + 0.3 * np.exp(-(((yy - 0.48) * 40) ** 2))[shaft, None]
        self.casing, self.base = casing, img
        self.guard = (xx > 0.66) & (xx < 0.95) & (yy > 0.3) & (yy < 0.7)
        mesh = ((np.floor(xx * s / 3) + np.floor(yy * s / 3)) % 2).astype(np.float32)
        self.guard_rgb = GUARD_YELLOW * (0.75 + 0.25 * mesh[..., None])
        corners = [(0.22, 0.16), (0.22, 0.58), (0.78, 0.16), (0.78, 0.58), (0.5, 0.14)]
        self.bolts = [(yy - by) ** 2 + (xx - bx) ** 2 < (0.028) ** 2 for by, bx in corners]
        self.bolt_rings = [
            ((yy - by) ** 2 + (xx - bx) ** 2 < (0.04) ** 2) & ~b
            for (by, bx), b in zip(corners, self.bolts, strict=True)
        ]
        self.healthy = img.copy()
        for bolt, ring in zip(self.bolts, self.bolt_rings, strict=True):
            self.healthy[ring] *= 0.8
            self.healthy[bolt] = 0.72
        self.healthy[self.guard] = self.guard_rgb[self.guard]
        self._ramp_y = (yy[:image_size, :image_size] - 0.5).astype(np.float32)
        self._ramp_x = (xx[:image_size, :image_size] - 0.5).astype(np.float32)

    @memo
    def _defect_field(self, kind: str, location: int) -> np.ndarray:
        """(S, S) float32 in [0, 1]: the order in which pixels are taken as the defect grows."""
        rng = np.random.default_rng([location, len(kind)])
        yy, xx = self.yy, self.xx
        if kind == "leak_stain":  # from the shaft seal, running down the casing
            cx = rng.uniform(0.45, 0.6)
            d = np.sqrt(((xx - cx) * 2.2) ** 2 + np.clip(0.5 - yy, 0, None) ** 2 * 9)
            d = d + np.where(yy > 0.5, -(yy - 0.5) * 0.7, 0)
            return np.clip(1 - d / 0.6, 0, 1).astype(np.float32)
        if kind == "corrosion":
            cy, cx = rng.uniform(0.3, 0.7), rng.uniform(0.2, 0.5)
            spots = rng.random((self.canvas, self.canvas)).astype(np.float32)
            near = np.exp(-(((yy - cy) ** 2 + (xx - cx) ** 2) / 0.03))
            return (near * (0.4 + 0.6 * spots) * self.casing).astype(np.float32)
        if kind == "crack":  # a random walk from a flange corner; order = distance along it
            field = np.zeros((self.canvas, self.canvas), np.float32)
            y, x = self.canvas * rng.uniform(0.25, 0.75), self.canvas * 0.14
            steps = int(self.canvas * 0.45)
            angle = rng.uniform(-0.4, 0.4)
            for i in range(steps):
                angle += rng.normal(0, 0.25)
                y, x = y + np.sin(angle), x + np.cos(angle)
                field[int(np.clip(y, 0, self.canvas - 1)), int(np.clip(x, 0, self.canvas - 1))] = (
                    1 - i / steps
                )
            return field
        if kind == "discolouration":
            return np.clip(1 - np.sqrt((yy - 0.5) ** 2 + (xx - 0.58) ** 2) / 0.35, 0, 1).astype(
                np.float32
            )
        raise ValueError(f"unknown camera defect {kind!r}")

    def render(self, defects: list[tuple[str, int, float]], rng: np.random.Generator) -> np.ndarray:
        """(H, W, 3) uint8. ``defects``: (kind, location, visibility 0..1) of the active faults."""
        img = self.healthy.copy()
        for kind, location, vis in defects:
            if vis <= 0:
                continue
            if kind == "missing_guard":  # removed from one side: the remaining part shrinks
                gone = self.guard & (self.xx >= 0.95 - 0.29 * min(1.0, vis * 1.6))
                img[gone] = self.base[gone]
            elif kind == "missing_bolt":
                img[self.bolts[location % len(self.bolts)]] = 0.08
            else:
                self._paint_defect(img, kind, location, vis)
        return self._photograph(img, rng)

    def _paint_defect(self, img: np.ndarray, kind: str, location: int, vis: float) -> None:
        field = self._defect_field(kind, location)
        if kind == "crack":
            mask = field > 1 - vis
            img[mask] *= 0.25
        elif kind == "leak_stain":
            alpha = np.clip((field - (1 - 0.8 * vis)) * 3, 0, 0.7)[..., None]
            img[:] = img * (1 - alpha) + STAIN * alpha
        elif kind == "corrosion":
            alpha = (field > 1 - 0.9 * vis).astype(np.float32)[..., None] * 0.8
            img[:] = img * (1 - alpha) + RUST * alpha
        else:  # discolouration
            alpha = (field * vis * 0.8)[..., None]
            img[:] = img * (1 - alpha) + HEAT_TINT * alpha

    def _photograph(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        m, n = self.margin, self.size
        jitter = 1.6 if self.shifted else 1.0
        dy, dx = np.clip(np.round(rng.normal(0, m / 2 * jitter, 2)), -m, m).astype(int)
        crop = img[m + dy : m + dy + n, m + dx : m + dx + n]
        lo, hi = (0.45, 0.95) if self.shifted else (0.75, 1.2)
        gain = rng.uniform(lo, hi)
        direction = rng.normal(size=2).astype(np.float32)
        ramp = self._ramp_y * direction[0] + self._ramp_x * direction[1]
        cast = (1 + rng.normal(0, 0.04, 3)).astype(np.float32) * np.float32(255 * gain)
        light = (1 + 0.25 * ramp)[..., None] * cast
        out = crop * light
        out += rng.standard_normal((n, n, 3), dtype=np.float32) * np.float32(255 * NOISE_SD)
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def camera_defects(faults: list, ts_ns: int) -> list[tuple[str, int, float]]:
    """(kind, location, visibility) for the active faults at ``ts_ns`` that the camera shows."""
    out = []
    for f in faults:
        if f.spec.camera_defect:
            vis = float(f.spec.visibility(Modality.CAMERA, f.episode.severity(ts_ns)))
            if vis > 0:
                out.append((f.spec.camera_defect, f.location, vis))
    return out
