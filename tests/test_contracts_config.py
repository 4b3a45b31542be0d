"""Plant config: the shipped files are valid; invalid files name the key path, value and fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from plant.config import ConfigError, load_config, parse_config
from plant.readings import Modality

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = (REPO / "configs" / "plant.toml").read_text()


def test_the_benchmark_plant_has_at_least_200_assets_of_every_type() -> None:
    config = load_config(REPO / "configs" / "benchmark.toml")
    assets = config.resolved_assets
    assert len(assets) >= 200
    assert {a.type for a in assets} == {"motor-pump", "fan", "gearbox", "compressor"}
    vib = [s for a in assets for s in a.sensors if s.modality is Modality.VIBRATION]
    assert all(s.period_s == 600 and s.samples_per_snapshot == 12800 for s in vib)


def test_multiplying_the_benchmark_plant_gives_10000_unique_assets() -> None:
    config = load_config(REPO / "configs" / "benchmark.toml").multiplied(50)
    ids = [a.id for a in config.resolved_assets]
    assert len(ids) == len(set(ids)) == 10_000


def test_the_example_plant_resolves_profiles_and_explicit_sensors() -> None:
    config = parse_config(EXAMPLE)
    p103 = config.asset("P-103")
    assert p103 is not None and Modality.CAMERA not in {s.modality for s in p103.sensors}
    assert config.asset("G-201").config.gear.input_teeth == 23


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("speed_rpm = [1450, 1490]", "speed_rpm = [1450, 14]", "assets[0].speed_rpm = [1450, 14]"),
        ('type = "fan"', 'type = "windmill"', "assets[3].type = 'windmill'"),
        (
            "image_size = 64,",
            "image_size = 64, colour = true,",
            "sensors[3].colour = True: unknown",
        ),
        ('area = "utilities"', 'area = "roof"', "area 'roof' is not one of areas"),
        ("n_elements = 9,", "n_elements = 1,", "n_elements = 1: Input should be greater"),
        ("ball_diameter_mm = 7.94", "ball_diameter_mm = 70.0", "must be below pitch_diameter"),
        ("sample_rate_hz = 12800, ", "", "needs sample_rate_hz and snapshot_s"),
    ],
)
def test_an_invalid_plant_file_names_the_key_path_value_and_rule(old, new, expected) -> None:
    assert old in EXAMPLE
    with pytest.raises(ConfigError) as err:
        parse_config(EXAMPLE.replace(old, new, 1), source="plant.toml")
    assert expected in str(err.value)


def test_config_check_command_exits_2_with_the_problems_on_stderr(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(EXAMPLE.replace('site = "demo"', 'site = "my site"'))
    run = subprocess.run(
        [sys.executable, "-m", "plant.cli", "config", "check", str(bad)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert run.returncode == 2
    assert "plant.site = 'my site'" in run.stderr


def test_config_check_command_accepts_the_example(tmp_path: Path) -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "plant.cli",
            "config",
            "check",
            str(REPO / "configs" / "plant.toml"),
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert "6 assets" in run.stdout
    assert "warning" not in run.stdout  # 1 s snapshots: 11+ shaft turns on every asset


def test_config_check_warns_of_a_vibration_snapshot_too_short_for_its_lines(tmp_path) -> None:
    from plant.cli.config_check import advisories
    from tests.test_train_cli import TINY_PLANT

    short = parse_config(TINY_PLANT, source="tiny.toml")  # 0.1 s at 1450 rpm: 2.4 turns
    (line,) = advisories(short)
    assert "PA-001 and 5 more" in line and "2.4 shaft turns at 1450 rpm" in line
    assert "snapshot_s >= 0.33" in line
    assert (
        advisories(parse_config(TINY_PLANT.replace("snapshot_s = 0.1", "snapshot_s = 1.0"))) == []
    )
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_PLANT)
    run = subprocess.run([sys.executable, "-m", "plant.cli", "config", "check", str(path)],
                         capture_output=True, text=True, cwd=REPO)  # fmt: skip
    assert run.returncode == 0 and f"warning: {line}" in run.stdout  # valid, but said


def test_config_reference_page_is_generated_from_the_current_models() -> None:
    from plant.config.reference import reference_markdown

    page = (Path(__file__).resolve().parent.parent / "docs" / "CONFIG.md").read_text()
    assert page == reference_markdown(), "run: plantwatch config reference --out docs/CONFIG.md"
    # every section of the plant file is documented with its keys
    for key in ("`sample_rate_hz`", "`n_elements`", "`slot_s`", "`max_queued_messages`"):
        assert key in page, key


def test_config_reference_lists_every_field_of_every_section() -> None:
    from plant.config.plant import PlantConfig
    from plant.config.reference import _models_in, reference_markdown

    page = reference_markdown()
    todo, seen = [PlantConfig], set()
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        assert f"## {model.__name__}\n" in page, model.__name__
        for name, field in model.model_fields.items():
            assert f"| `{name}` |" in page, f"{model.__name__}.{name}"
            todo += _models_in(field.annotation)
    assert len(seen) >= 10  # sections: plant, areas, assets, sensors, broker, store, alarms, ...
