"""Real data for the model's branches (../shared/data): loading, the in-graph envelope spectra at
CWRU's defect frequencies, tile masks on the saliency grid. Small and fast: no training here
(benchmarks/real_data_checks.py trains and reports)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.explain import defect_hit
from models.real_data import (
    CWRU_GEOMETRY,
    _vib_features,
    grid_mask,
    load_cwru,
    load_tiles,
    segments,
    vib_config,
)
from plant.physics.bearing import defect_frequencies


def test_cwru_envelope_features_peak_at_bpfi_and_bpfo(shared_data: Path) -> None:
    recs = {r.name: r for r in load_cwru(shared_data / "cwru-bearing")}
    assert recs["Normal_0"].condition == "normal"
    assert abs(len(recs["Normal_0"].signal) - 243_938 / 4) < 2  # 48 kHz decimated to 12 kHz
    cfg = vib_config()
    step = cfg.inputs.max_order / cfg.inputs.order_bins
    d = defect_frequencies(CWRU_GEOMETRY, 1.0)
    assert round(d.bpfi_hz, 3) == 5.415 and round(d.bpfo_hz, 3) == 3.585  # CWRU's multiples
    for name, target in (("IR007_0", d.bpfi_hz), ("OR021@6_0", d.bpfo_hz)):
        r = recs[name]
        segs = segments(r.signal)[:4]
        f = _vib_features(cfg, segs, np.full(len(segs), r.rpm))
        env = f.vib[:, 0, 1].mean(0)  # envelope order spectrum, log amplitude
        lo, hi = int(1.5 / step), int(8 / step)
        peak = (np.argmax(env[lo:hi]) + lo) * step
        assert defect_hit(float(peak), target, step), (name, peak, target)


def test_tiles_one_lighting_setting_and_masks_on_the_grid(shared_data: Path) -> None:
    imgs, cells, y, names = load_tiles(shared_data / "magnetic-tile-defects", "exp1", 64)
    assert imgs.shape[1:] == (64, 64, 3) and cells.shape[1:] == (8, 8)
    assert all("/exp1_" in n for n in names)
    assert int(y.sum()) == 41 and int((y == 0).sum()) == 149
    assert cells[y == 1].any(axis=(1, 2)).all()  # every defect image has defect cells
    assert not cells[y == 0].any()
    m = np.zeros((300, 200), bool)
    m[299, 0] = True  # a one-pixel defect in the corner survives
    g = grid_mask(m, 8)
    assert g[7, 0] and g.sum() == 1
