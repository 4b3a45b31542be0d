"""Small plant configs and helpers for the simulator tests (no tests of its own)."""

from __future__ import annotations

from plant.config import PlantConfig, parse_config

START_NS = 1_767_571_200 * 1_000_000_000  # 2026-01-05T00:00:00Z, a Monday
HOUR_NS = 3600 * 1_000_000_000
DAY_NS = 24 * HOUR_NS

_VIB = 'id = "vib"\nmodality = "vibration"\nchannels = ["x", "y", "z"]\n' + (
    "sample_rate_hz = 5120\nsnapshot_s = 0.5\nperiod_s = 600"
)
_TEMP = (
    'id = "temp"\nmodality = "thermal"\nchannels = ["bearing_de", "bearing_nde", "winding"]\n'
    + ("period_s = 10")
)
_CTX = 'id = "ctx"\nmodality = "context"\nperiod_s = 10'
_CAM = 'id = "cam"\nmodality = "camera"\nimage_size = 64\nperiod_s = 600'
_LOG = 'id = "log"\nmodality = "notes"\nperiod_s = 3600'
SENSORS = "\n".join(
    ['[[profiles]]\nid = "full"']
    + [f"[[profiles.sensors]]\n{s}" for s in (_VIB, _TEMP, _CTX, _CAM, _LOG)]
    + ['[[profiles]]\nid = "scalar"']
    + [f"[[profiles.sensors]]\n{s}" for s in (_TEMP, _CTX)]
    + ['[[profiles]]\nid = "notes"']
    + [
        f"[[profiles.sensors]]\n{s}"
        for s in (_CTX.replace("period_s = 10", "period_s = 600"), _LOG.replace("3600", "1800"))
    ]
)
ASSET = """
[[assets]]
id = "{id}"
count = {count}
area = "a"
type = "{type}"
speed_rpm = {speed}
profile = "{profile}"
bearing = {{ n_elements = 9, ball_diameter_mm = 7.94, pitch_diameter_mm = 39.04 }}
{gear}
"""


def plant_text(
    assets: list[tuple[str, str, int]],
    profile: str = "full",
    simulation: str = "",
) -> str:
    """TOML for a plant of (id, type, count) asset families."""
    parts = ['[plant]\nname = "t"\nsite = "s"\n[[areas]]\nid = "a"\n', SENSORS]
    for aid, atype, count in assets:
        gear = "gear = { input_teeth = 23, output_teeth = 67 }" if atype == "gearbox" else ""
        speed = "[600, 1200]" if atype == "fan" else "[1450, 1490]"
        parts.append(
            ASSET.format(id=aid, count=count, type=atype, speed=speed, profile=profile, gear=gear)
        )
    if simulation:
        parts.append("[simulation]\n" + simulation)
    return "\n".join(parts)


def plant(
    assets: list[tuple[str, str, int]], profile: str = "full", simulation: str = ""
) -> PlantConfig:
    return parse_config(plant_text(assets, profile, simulation))
