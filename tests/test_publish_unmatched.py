"""The simulator's windowed publisher across a Mosquitto restart with a shared-subscription
consumer (real ``plantwatch ingest``): PUBACK 0x10 ("no matching subscribers", answered until
ingest has subscribed again) is not taken as delivered, so nothing is lost."""

from __future__ import annotations

import threading
import time

from plant.broker.publish import AvailabilityPublisher, WindowedPublisher
from plant.mqtt import BrokerUrl, connect, make_client
from tests.ingest_helpers import plant_config, readings, stored_keys, wait_for, write_config
from tests.test_ingest_crash import _start


def test_broker_restart_with_shared_subscription_loses_nothing(mosquitto, tmp_path):
    """Mosquitto 2.0.11 does not restore shared subscriptions from persistence: after a restart,
    until ingest has subscribed again, every reading is answered with 0x10. Here ingest comes
    back 3 s after the broker, while the simulator's publisher keeps publishing."""
    plant = plant_config()
    store = tmp_path / "store"
    config = write_config(tmp_path, store, mosquitto.url)
    items = readings(plant, 40, vibration_every=20)
    first, rest = items[: len(items) // 2], items[len(items) // 2 :]
    ingest = _start(config, store, "w0")
    pub = AvailabilityPublisher(
        BrokerUrl.parse(mosquitto.url), password=None, component="test-sim", qos=1, window=200
    )
    stop = threading.Event()
    try:
        for topic, payload, _key in first:
            pub.publish(topic, payload, stop)
        assert pub.window.flush(30)
        assert ingest.stop() == 0
        mosquitto.stop()  # SIGTERM: Mosquitto saves its persistence file (ingest's session)
        mosquitto.start()
        assert wait_for(lambda: pub.client.is_connected(), 30)
        later = threading.Timer(3.0, ingest.start)
        later.start()
        for topic, payload, _key in rest:
            pub.publish(topic, payload, stop)
        later.join()
        assert pub.close(60), f"{pub.unacked} never acknowledged"
        assert pub.window.unmatched_retries > 0  # the gap was there, and was bridged
        keys = [k for _, _, k in items]
        assert wait_for(lambda: all(k in stored_keys(store, plant) for k in keys), 60, 0.5)
        counts = stored_keys(store, plant)
        assert not [k for k in keys if counts.get(k, 0) != 1]
    finally:
        stop.set()
        assert ingest.stop() == 0


def test_unmatched_non_retained_is_retried_and_retained_is_accepted(mosquitto):
    """A retained message is accepted at once. A plain one with nobody ever subscribed is
    accepted at once too (no throttling of a lone simulator); once subscribers have existed, a
    plain one is published again until ``unmatched_retry_s``, then taken as accepted."""
    broker = BrokerUrl.parse(mosquitto.url)
    client = make_client(broker, v5=True)
    connect(client, broker)
    window = WindowedPublisher(client, qos=1, window=10, unmatched_retry_s=1.0)
    try:
        window.publish("plantwatch/v1/test/retained", b"x", retain=True)
        assert window.flush(5)
        assert window.unmatched_retries == 0
        t0 = time.monotonic()
        window.publish("plantwatch/v1/test/plain", b"never-heard")
        assert window.flush(5) and time.monotonic() - t0 < 1.0
        assert window.unmatched_never_subscribed == 1 and window.unmatched_retries == 0
        got: list[bytes] = []
        sub = make_client(broker, v5=True)
        sub.on_message = lambda _c, _u, m: got.append(m.payload)
        connect(sub, broker)
        sub.subscribe("plantwatch/v1/test/#", qos=1)
        assert wait_for(lambda: got == [b"x"], 5)  # the retained one was kept
        window.publish("plantwatch/v1/test/plain", b"heard")
        assert window.flush(5) and wait_for(lambda: got == [b"x", b"heard"], 5)
        # the broker has dropped the subscription once it acknowledges the UNSUBSCRIBE (a
        # DISCONNECT alone races the next publish, which then still matches)
        gone = threading.Event()
        sub.on_unsubscribe = lambda *_a: gone.set()
        sub.unsubscribe("plantwatch/v1/test/#")
        assert gone.wait(5)
        sub.disconnect()
        sub.loop_stop()
        t0 = time.monotonic()
        window.publish("plantwatch/v1/test/plain", b"y")  # subscribers existed: retried
        assert window.flush(10)
        assert time.monotonic() - t0 >= 1.0
        assert window.unmatched_retries >= 2 and window.unmatched_given_up == 1
    finally:
        client.disconnect()
        client.loop_stop()
