"""The whole plant file: identity, areas, profiles, assets and service settings."""

from __future__ import annotations

import dataclasses
from functools import cached_property
from typing import Self

from pydantic import Field, model_validator

from plant.config.alarms import AlarmsConfig
from plant.config.assets import AssetConfig, Id, Profile, SensorConfig
from plant.config.base import Section
from plant.config.services import (
    BrokerConfig,
    IngestConfig,
    SimulationConfig,
    StoreConfig,
    WindowConfig,
)


class PlantInfo(Section):
    name: str = Field(min_length=1, max_length=200, description="shown on the dashboard")
    site: Id


class Area(Section):
    id: Id
    name: str = Field(default="", description="display name")


@dataclasses.dataclass(frozen=True, slots=True)
class Asset:
    """One resolved machine: its config (``count`` expanded) and its full sensor list."""

    id: str
    site: str
    config: AssetConfig
    sensors: tuple[SensorConfig, ...]
    index: int  # position in the plant, stable, used for seeding

    @property
    def area(self) -> str:
        return self.config.area

    @property
    def type(self) -> str:
        return self.config.type.value

    def sensor(self, sensor_id: str) -> SensorConfig | None:
        return next((s for s in self.sensors if s.id == sensor_id), None)


class PlantConfig(Section):
    """A plant: validated at load, then resolved into a list of :class:`Asset`."""

    plant: PlantInfo = Field(description="the plant's name and site (the topics' first level)")
    areas: tuple[Area, ...] = Field(min_length=1, description="areas: one operator's span each")
    profiles: tuple[Profile, ...] = Field(default=(), description="reusable sensor fit-outs")
    assets: tuple[AssetConfig, ...] = Field(min_length=1, description="the machines")
    broker: BrokerConfig = Field(default=BrokerConfig(), description="the MQTT broker")
    store: StoreConfig = Field(default=StoreConfig(), description="the Parquet store and WAL")
    ingest: IngestConfig = Field(default=IngestConfig(), description="plantwatch ingest")
    windows: WindowConfig = Field(default=WindowConfig(), description="window assembly policy")
    simulation: SimulationConfig = Field(
        default=SimulationConfig(), description="the simulated plant (simulate, generate)"
    )
    alarms: AlarmsConfig = Field(default=AlarmsConfig(), description="alarm engine, API, notify")

    @model_validator(mode="after")
    def _references(self) -> Self:
        areas = {a.id for a in self.areas}
        profiles = {p.id for p in self.profiles}
        for i, a in enumerate(self.assets):
            if a.area not in areas:
                raise ValueError(f"assets[{i}].area {a.area!r} is not one of areas {sorted(areas)}")
            if a.profile is not None and a.profile not in profiles:
                raise ValueError(
                    f"assets[{i}].profile {a.profile!r} is not one of profiles {sorted(profiles)}"
                )
            if a.profile is None and not a.sensors:
                raise ValueError(f"assets[{i}] ({a.id}) has neither a profile nor sensors")
        ids = [x.id for x in self.resolved_assets]
        dup = sorted({i for i in ids if ids.count(i) > 1}) if len(set(ids)) != len(ids) else []
        if dup:
            raise ValueError(f"asset ids are not unique after expanding count: {dup[:5]}")
        for x in self.resolved_assets:
            sids = [s.id for s in x.sensors]
            if len(set(sids)) != len(sids):
                raise ValueError(f"asset {x.id} has duplicate sensor ids {sids}")
        return self

    @cached_property
    def resolved_assets(self) -> tuple[Asset, ...]:
        profiles = {p.id: p for p in self.profiles}
        out: list[Asset] = []
        for a in self.assets:
            sensors = (profiles[a.profile].sensors if a.profile else ()) + a.sensors
            for n in range(a.count):
                aid = a.id if a.count == 1 else f"{a.id}-{n + 1:03d}"
                out.append(Asset(aid, self.plant.site, a, sensors, len(out)))
        return tuple(out)

    def asset(self, asset_id: str) -> Asset | None:
        return self.asset_index.get(asset_id)

    @cached_property
    def asset_index(self) -> dict[str, Asset]:
        return {a.id: a for a in self.resolved_assets}

    def multiplied(self, factor: int) -> PlantConfig:
        """The same plant with every asset family ``factor`` times larger (scale benchmarks)."""
        if factor < 1:
            raise ValueError(f"factor {factor} must be >= 1")
        if factor == 1:
            return self
        raw = self.model_dump(mode="json")
        for a in raw["assets"]:
            a["count"] *= factor
        return PlantConfig.model_validate(raw)
