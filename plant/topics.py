"""The Unified Namespace: every MQTT topic plantwatch uses is built and parsed here, and only here.

Readings and the system's own outputs live under distinct branches directly below the version,
so a subscription to readings never receives health, alarms, availability or commands::

    plantwatch/v1/readings/<site>/<area>/<asset>/<sensor>/<modality>
    plantwatch/v1/health/<site>/<area>/<asset>
    plantwatch/v1/alarms/<site>/<area>/<asset>
    plantwatch/v1/availability/<component>
    plantwatch/v1/commands/<component>
"""

from __future__ import annotations

import dataclasses
import re
from enum import StrEnum

from plant.readings import Modality

ROOT = "plantwatch"
VERSION = "v1"

# Identifiers are single topic levels: no MQTT wildcards, separators or control characters.
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


class Branch(StrEnum):
    READINGS = "readings"
    HEALTH = "health"
    ALARMS = "alarms"
    AVAILABILITY = "availability"
    COMMANDS = "commands"


class TopicError(ValueError):
    """A topic that is not part of plantwatch's namespace, with the reason."""


def check_id(kind: str, value: str) -> str:
    """Return ``value`` if it is a valid identifier for one topic level, else raise ValueError."""
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise ValueError(
            f"{kind} id {value!r} is not valid: use 1-64 characters from A-Z a-z 0-9 _ . -, "
            "starting with a letter or digit"
        )
    return value


@dataclasses.dataclass(frozen=True, slots=True)
class ReadingTopic:
    site: str
    area: str
    asset: str
    sensor: str
    modality: Modality

    def __str__(self) -> str:
        return reading_topic(self.site, self.area, self.asset, self.sensor, self.modality)


@dataclasses.dataclass(frozen=True, slots=True)
class AssetTopic:
    branch: Branch
    site: str
    area: str
    asset: str


def _prefix(branch: Branch) -> str:
    return f"{ROOT}/{VERSION}/{branch.value}"


def reading_topic(site: str, area: str, asset: str, sensor: str, modality: Modality | str) -> str:
    for kind, value in (("site", site), ("area", area), ("asset", asset), ("sensor", sensor)):
        check_id(kind, value)
    return f"{_prefix(Branch.READINGS)}/{site}/{area}/{asset}/{sensor}/{Modality(modality).value}"


def asset_topic(branch: Branch, site: str, area: str, asset: str) -> str:
    if branch not in (Branch.HEALTH, Branch.ALARMS):
        raise ValueError(f"branch {branch!r} is not per asset; use health or alarms")
    for kind, value in (("site", site), ("area", area), ("asset", asset)):
        check_id(kind, value)
    return f"{_prefix(branch)}/{site}/{area}/{asset}"


def health_topic(site: str, area: str, asset: str) -> str:
    return asset_topic(Branch.HEALTH, site, area, asset)


def alarm_topic(site: str, area: str, asset: str) -> str:
    return asset_topic(Branch.ALARMS, site, area, asset)


def availability_topic(component: str) -> str:
    return f"{_prefix(Branch.AVAILABILITY)}/{check_id('component', component)}"


def command_topic(component: str) -> str:
    return f"{_prefix(Branch.COMMANDS)}/{check_id('component', component)}"


def readings_filter(site: str = "+", area: str = "+", asset: str = "+") -> str:
    """Subscription filter for all readings (optionally of one site, area or asset)."""
    return f"{_prefix(Branch.READINGS)}/{site}/{area}/{asset}/+/+"


def shared(group: str, topic_filter: str) -> str:
    """An MQTT v5 shared subscription over ``topic_filter`` for worker group ``group``."""
    return f"$share/{check_id('group', group)}/{topic_filter}"


def parse_reading_topic(topic: str) -> ReadingTopic:
    """Parse a readings topic; raise TopicError saying what is wrong."""
    parts = topic.split("/")
    head = [ROOT, VERSION, Branch.READINGS.value]
    if parts[:3] != head:
        raise TopicError(f"topic {topic!r} is not under {'/'.join(head)}/")
    if len(parts) != 8:
        raise TopicError(
            f"topic {topic!r} has {len(parts)} levels; expected 8: "
            "plantwatch/v1/readings/<site>/<area>/<asset>/<sensor>/<modality>"
        )
    site, area, asset, sensor, modality = parts[3:]
    try:
        for kind, value in (("site", site), ("area", area), ("asset", asset), ("sensor", sensor)):
            check_id(kind, value)
        mod = Modality(modality)
    except ValueError as exc:
        raise TopicError(f"topic {topic!r}: {exc}") from None
    return ReadingTopic(site, area, asset, sensor, mod)


def parse_asset_topic(topic: str) -> AssetTopic:
    parts = topic.split("/")
    if len(parts) != 6 or parts[:2] != [ROOT, VERSION]:
        raise TopicError(
            f"topic {topic!r} is not plantwatch/v1/<health|alarms>/<site>/<area>/<asset>"
        )
    try:
        branch = Branch(parts[2])
        if branch not in (Branch.HEALTH, Branch.ALARMS):
            raise ValueError(f"branch {parts[2]!r} is not per asset")
        for kind, value in zip(("site", "area", "asset"), parts[3:], strict=True):
            check_id(kind, value)
    except ValueError as exc:
        raise TopicError(f"topic {topic!r}: {exc}") from None
    return AssetTopic(branch, parts[3], parts[4], parts[5])
