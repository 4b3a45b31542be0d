"""The plant's configuration: one pydantic schema, loaded from TOML, unknown keys refused."""

from plant.config.assets import (
    AssetConfig,
    AssetType,
    BearingGeometry,
    Foundation,
    GearStage,
    SensorConfig,
)
from plant.config.load import ConfigError, load_config, parse_config
from plant.config.plant import Asset, PlantConfig
from plant.config.services import (
    BrokerConfig,
    IngestConfig,
    SimulationConfig,
    StoreConfig,
    WindowConfig,
)

__all__ = [
    "Asset",
    "AssetConfig",
    "AssetType",
    "BearingGeometry",
    "BrokerConfig",
    "ConfigError",
    "Foundation",
    "GearStage",
    "IngestConfig",
    "PlantConfig",
    "SensorConfig",
    "SimulationConfig",
    "StoreConfig",
    "WindowConfig",
    "load_config",
    "parse_config",
]
