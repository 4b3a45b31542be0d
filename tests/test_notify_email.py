"""Email notifications against a real local SMTP server (aiosmtpd) started by the test."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller

from plant.alarms import AlarmEngine
from plant.alarms.notify import Dispatcher, EmailChannel, RouteWorker
from plant.config.alarms import RouteConfig
from tests.alarm_helpers import LOW, T0, Clock, demo_plant, feed
from tests.fixtures.brokers import free_port


class Inbox:
    """aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
        raw = envelope.content  # type: ignore[attr-defined]
        self.messages.append(email.message_from_bytes(raw, policy=email.policy.default))
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))  # type: ignore[attr-defined]
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def test_alarm_email_says_what_where_how_bad_and_links_the_alarm(
    smtp: tuple[Inbox, int],
) -> None:
    inbox, port = smtp
    route = RouteConfig(
        channel="email", smtp_port=port, recipients=("planner@plant.example",),
        sender="alarms@plant.example", min_priority="medium",
    )  # fmt: skip
    channel = EmailChannel("127.0.0.1", port, route.sender, route.recipients, timeout_s=5)
    worker = RouteWorker(channel, route)
    engine = AlarmEngine(demo_plant(), None, clock=Clock(), notifier=Dispatcher([worker]))
    feed(engine, "P-101", T0, LOW, health_score=90)  # low priority: below the route's filter
    explanation = {"thermal": 0.55, "vibration": 0.25, "notes": 0.05}
    feed(
        engine, "C-401", T0, LOW, health_score=10, fault="cooling_failure", explanation=explanation
    )
    assert worker.wait_sent(1, 10)
    worker.stop()
    assert len(inbox.messages) == 1
    msg = inbox.messages[0]
    assert inbox.envelopes[0] == ("alarms@plant.example", ["planner@plant.example"])
    assert "C-401" in msg["Subject"] and "CRITICAL" in msg["Subject"]
    body = msg.get_content()
    assert "http://127.0.0.1:8050/alarm/2" in body
    assert "evidence: thermal, vibration" in body
    assert "p-value:   0.0001" in body and "cooling_failure" in body


def test_smtp_down_then_up_is_retried(smtp: tuple[Inbox, int]) -> None:
    inbox, _ = smtp
    port = free_port()  # nothing listens yet
    route = RouteConfig(channel="email", smtp_port=port, recipients=("a@b.example",),
                        backoff_s=0.3, retries=5)  # fmt: skip
    channel = EmailChannel("127.0.0.1", port, route.sender, route.recipients, timeout_s=2)
    worker = RouteWorker(channel, route)
    engine = AlarmEngine(demo_plant(), None, clock=Clock(), notifier=Dispatcher([worker]))
    feed(engine, "P-101", T0, LOW)
    late = Inbox()
    controller = Controller(late, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        assert worker.wait_sent(1, 15)
    finally:
        worker.stop()
        controller.stop()
    assert len(late.messages) == 1 and inbox.messages == []
