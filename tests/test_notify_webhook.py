"""Webhook notifications against a real local HTTP receiver: HMAC, retries with backoff."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from plant.alarms import AlarmEngine
from plant.alarms.notify import Dispatcher, RouteWorker, WebhookChannel
from plant.alarms.notify.webhook import DELIVERY, SIGNATURE, TIMESTAMP
from plant.config.alarms import RouteConfig
from tests.alarm_helpers import LOW, T0, Clock, demo_plant, feed

SECRET = b"shared webhook secret"


class Receiver:
    """A webhook receiver on a free loopback port: fails the first ``fail_first`` posts."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.posts: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.posts.append(
                    {"t": time.monotonic(), "body": body, "headers": dict(self.headers)}
                )
                ok = len(receiver.posts) > receiver.fail_first
                self.send_response(200 if ok else 503)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hook"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(fail_first=2)
    yield r
    r.stop()


def verify(post: dict) -> bool:
    """What a receiver does: recompute the HMAC over timestamp.body, compare in constant time."""
    headers = post["headers"]
    message = headers[TIMESTAMP].encode() + b"." + post["body"]
    expected = "sha256=" + hmac.new(SECRET, message, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers[SIGNATURE])


def webhook_route(url: str, **kw: object) -> RouteConfig:
    return RouteConfig(channel="webhook", url=url, backoff_s=0.2, retries=4, **kw)


def test_alarm_reaches_webhook_signed_after_retries(receiver: Receiver) -> None:
    worker = RouteWorker(WebhookChannel(receiver.url, SECRET, 2.0), webhook_route(receiver.url))
    engine = AlarmEngine(demo_plant(), None, clock=Clock(), notifier=Dispatcher([worker]))
    try:
        feed(engine, "P-101", T0, LOW, explanation={"vibration": 0.6, "thermal": 0.1})
        assert worker.wait_sent(1, 10)
    finally:
        worker.stop()
    assert len(receiver.posts) == 3  # 503, 503, 200
    assert all(verify(p) for p in receiver.posts)
    assert len({p["headers"][DELIVERY] for p in receiver.posts}) == 1  # one delivery id
    gaps = [b["t"] - a["t"] for a, b in zip(receiver.posts, receiver.posts[1:], strict=False)]
    assert gaps[0] >= 0.18 and gaps[1] >= 0.36  # 0.2 s, then doubled
    doc = json.loads(receiver.posts[-1]["body"])
    assert doc["event"] == "raised" and doc["link"].endswith("/alarm/1")
    assert doc["alarm"]["asset"] == "P-101" and doc["alarm"]["priority"] == "low"
    assert doc["alarm"]["p_value"] == 0.0001 and "vibration" in doc["summary"]


def test_tampered_body_fails_verification(receiver: Receiver) -> None:
    worker = RouteWorker(WebhookChannel(receiver.url, SECRET, 2.0), webhook_route(receiver.url))
    engine = AlarmEngine(demo_plant(), None, clock=Clock(), notifier=Dispatcher([worker]))
    feed(engine, "P-101", T0, LOW)
    assert worker.wait_sent(1, 10)
    worker.stop()
    post = dict(receiver.posts[-1])
    post["body"] = post["body"].replace(b"P-101", b"P-102")
    assert not verify(post)


def test_unreachable_receiver_is_logged_and_never_crashes_the_engine(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dead = Receiver()
    url = dead.url
    dead.stop()  # nothing listens there any more
    route = RouteConfig(channel="webhook", url=url, backoff_s=0.05, retries=2, timeout_s=1)
    worker = RouteWorker(WebhookChannel(url, SECRET, 1.0), route)
    engine = AlarmEngine(demo_plant(), None, clock=Clock(), notifier=Dispatcher([worker]))
    with caplog.at_level(logging.WARNING):
        feed(engine, "P-101", T0, LOW)
        engine.acknowledge(1, "olga")  # the engine carries on while sends fail
        deadline = time.monotonic() + 10
        while worker.failed == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
    worker.stop()
    assert worker.failed == 1 and worker.sent == 0
    assert engine.get_alarm(1)["state"] == "acknowledged"
    assert "giving up on alarm 1" in caplog.text and "retry in" in caplog.text


class Times:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_route_filters_by_priority_event_and_cooldown(receiver: Receiver) -> None:
    clock = Times()
    route = webhook_route(receiver.url, min_priority="high", cooldown_s=600)
    worker = RouteWorker(WebhookChannel(receiver.url, SECRET), route, clock=clock)
    engine = AlarmEngine(demo_plant(), None, clock=Clock(), notifier=Dispatcher([worker]))
    t = feed(engine, "P-101", T0, LOW, health_score=90)  # low priority: filtered
    t = feed(engine, "P-102", t, LOW, health_score=10)  # critical: accepted
    t = feed(engine, "P-102", t, [0.9] * 5)  # cleared: not a routed event
    clock.t = 300
    t = feed(engine, "P-102", t, LOW, health_score=10)  # re-raised within the cooldown
    clock.t = 700
    t = feed(engine, "P-102", t, [0.9] * 5)
    feed(engine, "P-102", t, LOW, health_score=10)  # after the cooldown: accepted
    assert worker.wait_sent(2, 15)
    worker.stop()
    assert worker.skipped == 1
    assert [json.loads(p["body"])["alarm"]["asset"] for p in receiver.posts[-1:]] == ["P-102"]
    assert worker.sent == 2


def test_missing_webhook_secret_is_refused_at_build() -> None:
    from plant.alarms.notify import build_dispatcher
    from plant.config.alarms import AlarmsConfig

    route = RouteConfig(channel="webhook", url="http://127.0.0.1:9/x", secret_env="HOOK_SECRET")
    settings = AlarmsConfig(routes=(route,))
    with pytest.raises(ValueError, match="HOOK_SECRET"):
        build_dispatcher(settings, mqtt_client=None, env={})
    dispatcher = build_dispatcher(settings, mqtt_client=None, env={"HOOK_SECRET": "s3cret"})
    assert [w.channel.name for w in dispatcher.workers] == ["webhook"]
    dispatcher.stop()
