"""Shared helpers for the alarm tests: the demo plant, a settable clock, health events."""

from __future__ import annotations

import functools
from pathlib import Path

from plant.alarms import AlarmEngine
from plant.alarms.notify.message import Notification
from plant.config import PlantConfig, load_config
from plant.events import HealthEvent

REPO = Path(__file__).resolve().parent.parent
S = 1_000_000_000
T0 = 1_795_000_000 * S  # a fixed UTC time in 2026


@functools.cache
def _demo() -> PlantConfig:
    return load_config(REPO / "configs" / "plant.toml")


def demo_plant(**alarms: object) -> PlantConfig:
    config = _demo()
    if alarms:
        raw = config.model_dump(mode="json")
        raw["alarms"].update(alarms)
        config = PlantConfig.model_validate(raw)
    return config


class Clock:
    def __init__(self, now_ns: int = T0) -> None:
        self.now_ns = now_ns

    def __call__(self) -> int:
        return self.now_ns

    def advance(self, seconds: float) -> int:
        self.now_ns += int(seconds * S)
        return self.now_ns


class Collector:
    """A notifier that keeps what it is given (the engine's side of the contract)."""

    def __init__(self) -> None:
        self.notes: list[Notification] = []

    def submit(self, note: Notification) -> None:
        self.notes.append(note)

    def events(self, event: str | None = None) -> list[Notification]:
        return [n for n in self.notes if event is None or n.event == event]


def health(
    asset: str,
    ts_ns: int,
    p_value: float,
    *,
    fault: str = "bearing_outer",
    health_score: float = 70.0,
    explanation: dict[str, float] | None = None,
    load_range: float | None = None,
    p_value_sensors: float | None = None,
) -> HealthEvent:
    present = {"vibration": True, "thermal": True, "camera": True, "notes": True}
    return HealthEvent(
        asset,
        ts_ns,
        health_score,
        1.0,
        p_value,
        fault,
        0.8,
        present,
        {},
        "model-7",
        "grp",
        explanation,
        load_range=load_range,
        p_value_sensors=p_value_sensors,
    )


def feed(
    engine: AlarmEngine,
    asset: str,
    start_ns: int,
    p_values: list[float],
    step_s: float = 300,  # one persistence slot per event
    **kw: object,
) -> int:
    """Feed one health event per step; return the time after the last."""
    ts = start_ns
    for p in p_values:
        engine.on_health(health(asset, ts, p, **kw))  # type: ignore[arg-type]
        ts += int(step_s * S)
    return ts


LOW = [0.0001] * 3  # k=3 of m=5 below alpha: raises
HIGH = [0.9] * 5  # clears
