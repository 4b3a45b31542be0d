"""The Unified Namespace: round trips, branch separation, and refusal of bad topics."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plant import topics
from plant.readings import Modality

ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,30}", fullmatch=True)


@given(ids, ids, ids, ids, st.sampled_from(list(Modality)))
def test_reading_topic_round_trips(site, area, asset, sensor, modality) -> None:
    t = topics.reading_topic(site, area, asset, sensor, modality)
    assert topics.parse_reading_topic(t) == topics.ReadingTopic(site, area, asset, sensor, modality)


@given(ids, ids, ids)
def test_health_and_alarm_topics_round_trip(site, area, asset) -> None:
    for branch, build in (
        (topics.Branch.HEALTH, topics.health_topic),
        (topics.Branch.ALARMS, topics.alarm_topic),
    ):
        parsed = topics.parse_asset_topic(build(site, area, asset))
        assert parsed == topics.AssetTopic(branch, site, area, asset)


def _matches(filter_: str, topic: str) -> bool:
    f, t = filter_.split("/"), topic.split("/")
    for i, level in enumerate(f):
        if level == "#":
            return True
        if i >= len(t) or (level != "+" and level != t[i]):
            return False
    return len(f) == len(t)


def test_a_readings_subscription_never_receives_outputs() -> None:
    filt = topics.readings_filter()
    assert _matches(filt, topics.reading_topic("s", "a", "P1", "vib", Modality.VIBRATION))
    for out in (
        topics.health_topic("s", "a", "P1"),
        topics.alarm_topic("s", "a", "P1"),
        topics.availability_topic("ingest"),
        topics.command_topic("serve"),
        "plantwatch/v1/health/s/a/P1/x/y",
    ):
        assert not _matches(filt, out)
        assert not _matches("plantwatch/v1/readings/#", out)


@pytest.mark.parametrize(
    "bad",
    [
        "plantwatch/v1/readings/s/a/P1/vib",
        "plantwatch/v1/readings/s/a/P1/vib/smell",
        "plantwatch/v2/readings/s/a/P1/vib/thermal",
        "plantwatch/v1/health/s/a/P1/vib/thermal",
        "plantwatch/v1/readings/s/a/P 1/vib/thermal",
        "plantwatch/v1/readings/s/a/+/vib/thermal",
        "plantwatch/v1/readings/s/a//vib/thermal",
        "",
    ],
)
def test_malformed_reading_topics_are_refused(bad: str) -> None:
    with pytest.raises(topics.TopicError):
        topics.parse_reading_topic(bad)


@pytest.mark.parametrize("bad", ["", "a/b", "a+b", "#", "-lead", "x" * 65, "naïve", "P1\n"])
def test_ids_that_would_break_a_topic_level_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        topics.check_id("asset", bad)


def test_shared_subscription_wraps_a_filter() -> None:
    assert topics.shared("ingest", topics.readings_filter()) == (
        "$share/ingest/plantwatch/v1/readings/+/+/+/+/+"
    )
