"""Model directories and the registry: bit-exact round trip, tamper refusal, promote/rollback."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from flax import nnx

from models import registry
from models.batch import make_batch
from models.checkpoint import ChecksumError, load_model, save_model
from models.model import FusionModel
from models.scoring import Scorer
from plant.cli import main
from plant.readings import Modality
from tests.test_model_shapes import SMALL, make_window


def _saved(path: Path, seed: int) -> Path:
    save_model(FusionModel(SMALL, nnx.Rngs(seed)), SMALL, path)
    return path


def test_save_load_round_trip_is_bit_exact(tmp_path: Path) -> None:
    model = FusionModel(SMALL, nnx.Rngs(3))
    save_model(model, SMALL, tmp_path / "m")
    loaded, cfg, manifest = load_model(tmp_path / "m")
    assert cfg == SMALL and manifest["params"] > 10_000
    a = jax_leaves(nnx.state(model))
    b = jax_leaves(nnx.state(loaded))
    assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not (tmp_path / "m" / "weights.msgpack").read_bytes().startswith(b"\x80")  # no pickle


def jax_leaves(state) -> list[np.ndarray]:
    import jax

    return [np.asarray(x) for x in jax.tree.leaves(state)]


def test_a_tampered_weights_file_is_refused(tmp_path: Path) -> None:
    d = _saved(tmp_path / "m", 0)
    raw = bytearray((d / "weights.msgpack").read_bytes())
    raw[len(raw) // 2] ^= 0x01  # one flipped bit in the middle of a tensor
    (d / "weights.msgpack").write_bytes(bytes(raw))
    with pytest.raises(ChecksumError, match="does not match"):
        load_model(d)


def test_scorer_incremental_path_matches_full_rescoring(tmp_path: Path) -> None:
    scorer = Scorer.load(_saved(tmp_path / "m", 1))
    rng = np.random.default_rng(0)
    wins = [make_window(rng, fault=i % 2 == 1, asset=f"PA-{i:03d}") for i in range(3)]
    ids = [w.asset for w in wins]
    full, _ = scorer.score(wins)
    primed = scorer.prime(ids, wins)
    np.testing.assert_allclose(primed, full, rtol=1e-5, atol=1e-5)
    # a new thermal reading on asset 0 only: re-encode thermal, reuse the rest from the cache
    hot = make_window(rng, fault=True, asset=ids[0])
    inc, aux = scorer.score_incremental([ids[0]], Modality.THERMAL, [hot])
    expect_batch = make_batch([wins[0]], scorer.cfg.inputs)
    expect_batch.thermal_c[0] = make_batch([hot], scorer.cfg.inputs).thermal_c[0]
    expected, _ = scorer.score(expect_batch)
    np.testing.assert_allclose(inc, expected, rtol=1e-5, atol=1e-5)
    assert aux["late_scores"].shape == (1, 4)
    masked, _ = scorer.score(wins, mask_override=np.array([[False, True, True, True]] * 3))
    assert not np.allclose(masked, full)


def test_promote_and_rollback(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    reg = tmp_path / "reg"
    v1 = registry.new_version_dir(reg)
    _saved(v1, 0)
    v2 = registry.new_version_dir(reg)
    _saved(v2, 1)
    assert registry.versions(reg) == [v1.name, v2.name]
    assert registry.active_model(reg) is None
    registry.promote(reg, v1.name)
    assert main(["models", "--registry", str(reg), "promote", v2.name]) == 0
    assert registry.active_model(reg) == v2
    assert main(["models", "--registry", str(reg), "rollback"]) == 0
    assert registry.active_version(reg) == v1.name
    assert main(["models", "--registry", str(reg), "rollback"]) == 1  # nothing before v1
    assert main(["models", "--registry", str(reg), "list"]) == 0
    out = capsys.readouterr().out
    assert f"* {v1.name}" in out and f"  {v2.name}" in out
    assert main(["models", "--registry", str(reg), "show", v2.name]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["active"] is False and len(shown["manifest"]["weights_sha256"]) == 64
    (v2 / "weights.msgpack").write_bytes(b"not the weights")
    assert main(["models", "--registry", str(reg), "promote", v2.name]) == 1
    assert registry.active_version(reg) == v1.name
