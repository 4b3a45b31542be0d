"""Settings of the alarm engine, its HTTP API and its notifications (the ``[alarms]`` section).

Every field has a default, so a plant file may leave the whole section out. docs/ALARMS.md
explains each rule these numbers drive.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Self

from pydantic import Field, model_validator

from plant.config.base import Section


class PersistenceConfig(Section):
    """k-of-m persistence with deadband and on/off delays, on the conformal p-value."""

    k: int = Field(default=3, ge=1, le=100, description="p-values below alpha needed ...")
    m: int = Field(default=5, ge=1, le=100, description="... among the last m scored windows")
    alpha: float = Field(default=0.01, gt=0, lt=1, description="p-value threshold to raise")
    slot_s: float = Field(
        default=300.0,
        ge=0,
        le=86_400,
        description="the m entries are slots of this length (a slot is below alpha "
        "only if all its p-values are): rescoring on every reading does not count the same "
        "evidence k times; 0 counts every event",
    )
    deadband_ratio: float = Field(
        default=5.0,
        ge=1,
        le=100,
        description="clear only when fewer than k of m are below "
        "alpha * deadband_ratio (hysteresis)",
    )
    on_delay_s: float = Field(
        default=0.0, ge=0, le=86_400, description="raise only after the condition held this long"
    )
    off_delay_s: float = Field(
        default=0.0,
        ge=0,
        le=86_400,
        description="clear only after the condition was absent this long",
    )
    notes_corroborate_alpha: float = Field(
        default=0.05,
        gt=0,
        le=1,
        description="operator notes corroborate, they do not raise alone: a window whose "
        "p-value with its notes left out is not below this counts with that p-value (a note "
        "can be wrong, and it stays in 24 h of windows); 1 lets notes raise alone",
    )

    @property
    def alpha_off(self) -> float:
        """The clearing threshold: alpha x deadband_ratio."""
        return self.alpha * self.deadband_ratio

    @model_validator(mode="after")
    def _k_le_m(self) -> Self:
        if self.k > self.m:
            raise ValueError(f"persistence k={self.k} must be <= m={self.m}")
        return self


class TransientConfig(Section):
    """ISA-18.2 designed suppression during a process transient: while a running machine's load
    moves, its probes lag by their time constants (tens of minutes), and a static normal-behaviour
    model reads the still-warm (or still-cool) machine as anomalous."""

    load_range: float = Field(
        default=0.15,
        ge=0,
        le=2,
        description="a machine's health events count for nothing (neither raise nor clear) "
        "while its load moved by more than this (fraction of rated, max - min) over the "
        "window's thermal history ([ingest] thermal_history_s); 0: off",
    )
    hold_s: float = Field(
        default=900.0,
        ge=0,
        le=86_400,
        description="... and for this long after the last such event: probes with time "
        "constants longer than the thermal history still lag when the step leaves it",
    )


class FloodConfig(Section):
    """ISA-18.2 flood: more than ``threshold`` alarms in ``window_s`` in one area."""

    threshold: int = Field(default=10, ge=1, le=10_000, description="alarms per window per area")
    window_s: float = Field(default=600.0, gt=0, le=86_400, description="sliding window")
    clear_below: int = Field(default=5, ge=0, le=10_000, description="flood ends at or below")


class SilenceConfig(Section):
    """When a silent sensor or a silent monitoring chain raises its own alarm."""

    sensor_periods: float = Field(
        default=5.0, ge=1, le=1000, description="a sensor is silent after this many periods"
    )
    sensor_min_s: float = Field(default=60.0, ge=0, description="but never before this long")
    chain_s: float = Field(
        default=300.0, gt=0, le=86_400, description="no health events for this long: chain alarm"
    )


class PriorityConfig(Section):
    """Severity from health and p-value; urgency from how fast the fault class progresses."""

    high_health_below: float = Field(default=40.0, ge=0, le=100)
    critical_health_below: float = Field(default=15.0, ge=0, le=100)
    severe_p_below: float = Field(default=1e-4, gt=0, lt=1)
    urgent_faults: tuple[str, ...] = Field(
        default=("lubrication_starvation", "cooling_failure", "bearing_inner", "casing_crack"),
        description="fault classes that progress fast (raise priority one step)",
    )


class ApiConfig(Section):
    """The alarm HTTP API. A non-loopback bind needs TLS (cert and key)."""

    host: str = Field(default="127.0.0.1", description="bind address")
    port: int = Field(default=8051, ge=0, le=65535)
    tls_cert: str | None = Field(default=None, description="PEM certificate for HTTPS")
    tls_key: str | None = Field(default=None, description="PEM private key for HTTPS")
    token_ttl_s: float = Field(default=12 * 3600, gt=0, le=90 * 86_400)
    max_shelve_s: float = Field(default=8 * 3600, gt=0, le=30 * 86_400)
    dashboard_url: str = Field(default="http://127.0.0.1:8050", description="alarm links")

    @model_validator(mode="after")
    def _tls_pair(self) -> Self:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("api.tls_cert and api.tls_key go together")
        return self


class Channel(StrEnum):
    MQTT = "mqtt"
    WEBHOOK = "webhook"
    EMAIL = "email"


class RouteConfig(Section):
    """One notification route: a channel, a severity filter and a cooldown per alarm."""

    channel: Channel
    min_priority: str = Field(default="low", pattern="^(low|medium|high|critical)$")
    events: tuple[str, ...] = Field(
        default=("raised", "escalated", "flood"),
        description="which changes to send (raised, escalated, cleared, changed, flood, "
        "flood_end); "
        "MQTT always publishes every change, as retained state",
    )
    cooldown_s: float = Field(
        default=0.0, ge=0, le=7 * 86_400, description="per alarm: not sent again within this"
    )
    url: str | None = Field(default=None, description="webhook: the receiver's URL")
    secret_env: str | None = Field(
        default=None, description="webhook: env var holding the HMAC-SHA256 secret"
    )
    timeout_s: float = Field(default=5.0, gt=0, le=120)
    retries: int = Field(default=4, ge=0, le=20)
    backoff_s: float = Field(default=0.5, gt=0, le=600, description="first retry delay, doubled")
    smtp_host: str = Field(default="127.0.0.1")
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_starttls: bool = Field(default=False, description="email: STARTTLS before login")
    smtp_user: str | None = Field(default=None, description="email: login user")
    smtp_password_env: str | None = Field(default=None, description="email: env var, password")
    sender: str = Field(default="plantwatch@localhost")
    recipients: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _channel_fields(self) -> Self:
        if self.channel is Channel.WEBHOOK and not self.url:
            raise ValueError("a webhook route needs url")
        if self.channel is Channel.EMAIL and not self.recipients:
            raise ValueError("an email route needs recipients")
        known = {"raised", "escalated", "cleared", "changed", "flood", "flood_end"}
        unknown = set(self.events) - known
        if unknown:
            raise ValueError(f"unknown route events {sorted(unknown)}")
        return self


class AlarmsConfig(Section):
    """The ``[alarms]`` section of the plant file."""

    journal_path: str = Field(default="data/alarms.sqlite", description="SQLite journal")
    users_path: str = Field(default="data/users.sqlite", description="SQLite users and tokens")
    watch_components: tuple[str, ...] = Field(
        default=(),
        description="availability components (plantwatch/v1/availability/<name>) whose "
        "'offline' raises a silent-chain alarm, e.g. a separate scorer or ingest worker",
    )
    persistence: PersistenceConfig = PersistenceConfig()
    transient: TransientConfig = TransientConfig()
    flood: FloodConfig = FloodConfig()
    silence: SilenceConfig = SilenceConfig()
    priority: PriorityConfig = PriorityConfig()
    api: ApiConfig = ApiConfig()
    routes: tuple[RouteConfig, ...] = (RouteConfig(channel=Channel.MQTT),)
