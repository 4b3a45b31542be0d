"""Settings of the services (broker, store, ingest, windows, scoring, alarms, dashboard).

Each section has defaults, so a plant file may leave them all out.
"""

from __future__ import annotations

from pydantic import Field

from plant.config.base import Section


class BrokerConfig(Section):
    url: str = Field(default="mqtt://127.0.0.1:1883", description="mqtt[s]://[user@]host:port")
    qos: int = Field(default=1, ge=0, le=2, description="QoS for readings")
    max_queued_messages: int = Field(
        default=1_000_000, ge=1000, description="Mosquitto per-client queue (generated config)"
    )


class StoreConfig(Section):
    path: str = Field(default="data/store", description="local path or pyarrow filesystem URI")
    raw_retention_days: float = Field(default=30.0, gt=0, description="waveforms and images")
    raw_budget_gb: float | None = Field(default=None, gt=0, description="disk budget for raw data")
    upkeep_interval_s: float = Field(
        default=3600.0,
        ge=0,
        description="ingest compacts small files and applies retention this often (0: never)",
    )
    compact_target_mb: float = Field(
        default=256.0, gt=0, le=16_384, description="size compaction merges small files into"
    )


class WindowConfig(Section):
    """How readings are assembled into per-asset multimodal windows."""

    interval_s: float = Field(default=600.0, gt=0, description="evaluation scoring interval")
    thermal_history_s: float = Field(default=3600.0, gt=0, description="thermal look-back")
    thermal_points: int = Field(default=32, ge=4, le=1024, description="thermal samples kept")
    notes_history_s: float = Field(default=86_400.0, gt=0, description="notes look-back")
    stale_after_periods: float = Field(
        default=3.0, gt=0, description="a modality is stale after this many publish periods"
    )
    late_tolerance_s: float = Field(default=30.0, ge=0, description="reordering bound")


class SimulationConfig(Section):
    """The simulator's plant-wide settings: how often things fail and how messy data is."""

    faults_per_asset_year: float = Field(default=6.0, ge=0, le=365)
    degradation_days: tuple[float, float] = Field(default=(2.0, 8.0))
    dropout_probability: float = Field(default=0.01, ge=0, le=0.5)
    duplicate_probability: float = Field(default=0.005, ge=0, le=0.5)
    reorder_probability: float = Field(default=0.005, ge=0, le=0.5)
    stuck_sensor_per_asset_year: float = Field(default=0.5, ge=0)
    clock_skew_s: float = Field(default=2.0, ge=0, le=600, description="per-sensor skew std")
    missing_modality_fraction: float = Field(
        default=0.1, ge=0, le=1, description="assets lacking one model modality"
    )
    notes_per_day: float = Field(default=3.0, ge=0, le=200)
    stops_per_week: float = Field(default=1.0, ge=0)


class IngestConfig(Section):
    """The ingest service: validation limits, batching and the MQTT session."""

    group: str = Field(
        default="ingest", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$", description="share group"
    )
    max_payload_bytes: int = Field(
        default=4 * 1024 * 1024, ge=1024, le=256 * 1024 * 1024, description="larger: dead letter"
    )
    max_future_s: float = Field(default=300.0, ge=0, description="reading time ahead of arrival")
    max_past_s: float = Field(
        default=7 * 86_400.0, gt=0, description="reading time behind arrival (history: import)"
    )
    batch_max: int = Field(default=500, ge=1, le=100_000, description="messages per fsync")
    batch_max_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1024, description="payload bytes per fsync (waveforms)"
    )
    batch_wait_ms: float = Field(
        default=20.0, ge=0, le=10_000, description="wait to fill a batch (fewer, larger fsyncs)"
    )
    receive_maximum: int = Field(
        default=1000, ge=1, le=65_535, description="unacked messages the broker may send us"
    )
    session_expiry_s: int = Field(
        default=7 * 86_400, ge=0, description="broker keeps our session this long while away"
    )
    metrics_interval_s: float = Field(default=5.0, gt=0, le=3600, description="snapshot period")
