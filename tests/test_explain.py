"""Explanations: exact Shapley (efficiency, absent modalities), planted bearing-fault frequency,
evidence per modality, JSON-able output. One tiny model trained on a synthetic plant (shared)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from models.explain import (
    COALITIONS,
    W_SHAPLEY,
    Explainer,
    defect_hit,
    harmonic_markers,
    label_order,
)
from models.metrics import auroc
from models.scoring import Scorer
from plant.labels import FaultClass
from tests.explain_helpers import BEARING, ORDERS, T0, make_window, tiny_model_dir

# the shared fixture trains a tiny model (~1.5 min of CPU, mostly XLA compilation)
pytestmark = pytest.mark.timeout(1800)


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    return Scorer.load(tiny_model_dir())


def test_shapley_matrix_is_exact_for_an_additive_game() -> None:
    """For v(S) = sum of per-player worths, Shapley returns the worths; efficiency holds."""
    worth = np.array([1.5, -0.5, 2.0, 0.25])
    v = COALITIONS.astype(float) @ worth + 3.0
    np.testing.assert_allclose(v @ W_SHAPLEY, worth, atol=1e-12)
    inter = v + 4.0 * (COALITIONS[:, 0] & COALITIONS[:, 1])  # an interaction splits evenly
    np.testing.assert_allclose(inter @ W_SHAPLEY, worth + np.array([2, 2, 0, 0]), atol=1e-12)


def test_efficiency_absent_modality_and_score_match(scorer: Scorer) -> None:
    rng = np.random.default_rng(4)
    windows = [make_window(rng, "PA-900", T0, FaultClass.BEARING_OUTER) for _ in range(3)]
    w = windows[2]
    windows[2] = type(w)(**{**{f: getattr(w, f) for f in w.__slots__}, "camera": None})
    docs = Explainer(scorer).explain_batch(windows, [BEARING] * 3)
    scores, _ = scorer.score(windows)
    for doc, s in zip(docs, scores, strict=True):
        total = doc["base"] + sum(doc["shapley"].values())
        assert total == pytest.approx(doc["score"], abs=1e-9)
        assert doc["score"] == pytest.approx(float(s), abs=1e-4)
        json.dumps(doc, allow_nan=False)
    assert docs[2]["shapley"]["camera"] == 0.0
    assert "camera" not in docs[2]["evidence"] and "camera" in docs[0]["evidence"]


def test_planted_bearing_fault_frequency_is_found(scorer: Scorer) -> None:
    """The strongest envelope attribution lies at BPFO (outer) / BPFI (inner) or a harmonic."""
    ex = Explainer(scorer)
    rng = np.random.default_rng(21)
    hits = {FaultClass.BEARING_OUTER: 0, FaultClass.BEARING_INNER: 0}
    n = 6
    for fault, target in ((FaultClass.BEARING_OUTER, ORDERS.bpfo_hz),
                          (FaultClass.BEARING_INNER, ORDERS.bpfi_hz)):  # fmt: skip
        windows = [make_window(rng, "PA-901", T0, fault) for _ in range(n)]
        for w, doc in zip(windows, ex.explain_batch(windows, [BEARING] * n), strict=True):
            vib = doc["evidence"]["vibration"]
            peak = vib["bands"][0]
            hits[fault] += defect_hit(peak["order"], target, ex.step)
            assert peak["hz"] == pytest.approx(peak["order"] * w.context.shaft_speed_hz)
    assert hits[FaultClass.BEARING_OUTER] >= n - 1 and hits[FaultClass.BEARING_INNER] >= n - 1, hits


def test_vibration_carries_a_vibration_fault(scorer: Scorer) -> None:
    """The vibration Shapley value is larger on bearing-fault windows than on normal ones."""
    ex = Explainer(scorer)
    rng = np.random.default_rng(8)
    faulty = [make_window(rng, "PA-902", T0, FaultClass.BEARING_INNER) for _ in range(6)]
    normal = [make_window(rng, "PA-903", T0, None) for _ in range(6)]
    phi_f = [d["shapley"]["vibration"] for d in ex.explain_batch(faulty)]
    phi_n = [d["shapley"]["vibration"] for d in ex.explain_batch(normal)]
    # a tiny model: its vibration values of the two sets may touch, but must rank apart
    assert auroc(np.array([1] * 6 + [0] * 6), np.array(phi_f + phi_n)) >= 0.8, (phi_f, phi_n)
    assert np.mean(phi_f) > np.mean(phi_n)


def test_evidence_shapes_and_notes_tokens(scorer: Scorer) -> None:
    rng = np.random.default_rng(3)
    w = make_window(rng, "PA-904", T0, FaultClass.COOLING_FAILURE, note="DE brg hot, smell")
    doc = Explainer(scorer).explain(w, bearing=BEARING, shaft_hz=w.context.shaft_speed_hz)
    ev = doc["evidence"]
    assert set(ev) == {"vibration", "thermal", "camera", "notes"}
    bands = ev["vibration"]["bands"]
    assert 1 <= len(bands) <= 8 and all(b["weight"] > 0 and b["order"] > 0 for b in bands)
    th = ev["thermal"]
    assert len(th["residual_c"]) == len(th["weight"]) == len(th["ts_ns"]) == 8
    assert max(abs(x) for x in th["weight"]) == pytest.approx(1.0)
    assert th["probe"] == 1 and th["residual_c"][-1] > 3.0  # the heated winding probe, in degC
    rows, cols = ev["camera"]["grid"]
    sal = ev["camera"]["saliency"]
    assert len(sal) == rows * cols and max(sal) == pytest.approx(1.0) and min(sal) >= 0
    words = [t["text"] for t in ev["notes"]["tokens"]]
    assert words == ["drive", "end", "bearing", "hot", "smell"]  # normalised, in order
    assert doc["primary"] in {"vibration", "thermal", "camera", "notes"}


def test_harmonic_labels() -> None:
    markers = harmonic_markers(BEARING, 16.0)
    step = 16.0 / 256
    assert label_order(ORDERS.bpfo_hz, markers, step) == "BPFO"
    assert label_order(2 * ORDERS.bpfi_hz, markers, step) == "2xBPFI"
    assert label_order(1.0, markers, step) == "1x"
    assert label_order(2 * ORDERS.ball_defect_hz, markers, step) == "4xBSF"
    assert label_order(6.6, markers, step) == ""
    assert defect_hit(3 * ORDERS.bpfo_hz + step / 2, ORDERS.bpfo_hz, step)
    assert not defect_hit(ORDERS.bpfi_hz, ORDERS.bpfo_hz, step)
