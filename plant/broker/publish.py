"""Publishing many QoS 1 messages without losing any: a bounded window of unacknowledged ones.

paho keeps every unacknowledged QoS 1 message in memory and re-sends it after a reconnect, but
puts no bound on how many: publishing faster than the broker acknowledges grows that queue
without limit, and a client that exits before its queue drains loses the rest. Here at most
``window`` messages are unacknowledged at any time; the next ``publish`` blocks until the broker
acknowledges one, so a slow or absent broker slows the publisher down instead of losing data,
and :meth:`WindowedPublisher.flush` waits for the last acknowledgement before exit.

An MQTT 5 PUBACK with reason code 0x10 ("no matching subscribers") means the broker accepted the
message and delivered it to nobody. For a retained message that is a success (the broker keeps
it for later subscribers). For any other message it is not: Mosquitto answers 0x10 for the
seconds after a restart until a shared-subscription consumer (ingest) has subscribed again, and
the message would be lost. Such a message keeps its window slot and is published again with
back-off (0.2 s doubling to 2 s) for up to ``unmatched_retry_s``; only after that is it taken
as accepted, counted in ``unmatched_given_up``. Retrying starts only once some non-retained
message has reached a subscriber: before that nobody listens at all (``plantwatch simulate``
with no ingest running), and holding every message for a minute would only throttle the
publisher (counted in ``unmatched_never_subscribed``).
"""

from __future__ import annotations

import logging
import threading
import time

import paho.mqtt.client as mqtt

from plant import topics
from plant.mqtt import BrokerUrl, connect, make_client

log = logging.getLogger(__name__)


class PublishAbortedError(RuntimeError):
    """Publishing stopped (stop requested) while waiting for the broker to acknowledge."""


class WindowedPublisher:
    """At most ``window`` unacknowledged messages; ``publish`` blocks for an ack beyond that."""

    UNMATCHED = 0x10  # PUBACK: no matching subscribers

    def __init__(
        self,
        client: mqtt.Client,
        *,
        qos: int = 1,
        window: int = 1000,
        unmatched_retry_s: float = 60.0,
    ) -> None:
        self.client = client
        self.qos = qos
        self.window = window
        self.unmatched_retry_s = unmatched_retry_s
        self.unmatched_retries = 0  # messages published again after a 0x10 PUBACK
        self.unmatched_given_up = 0  # ... and taken as accepted after unmatched_retry_s
        self.unmatched_never_subscribed = 0  # 0x10 before any subscriber ever took one: accepted
        self._delivered_once = False  # a non-retained message has reached a subscriber
        self._slots = threading.Semaphore(window)
        self._unacked = 0
        self._lock = threading.Lock()
        self._drained = threading.Condition(self._lock)
        # mid -> (topic, payload, retain, first publish monotonic, retries) of unacked messages
        self._inflight: dict[int, tuple[str, bytes, bool, float, int]] = {}
        self._early: dict[int, int] = {}  # mid -> PUBACK code that beat publish() returning
        self._retry_lock = threading.Lock()
        previous = client.on_publish

        def _on_publish(c: mqtt.Client, u: object, mid: int, rc: object, p: object) -> None:
            # paho calls this holding its message lock: never publish from here.
            if previous is not None:
                previous(c, u, mid, rc, p)
            if self.qos == 0:
                self._acked()
                return
            code = int(getattr(rc, "value", rc) or 0)
            with self._retry_lock:
                entry = self._inflight.pop(mid, None)
                if entry is None:  # acknowledged before publish() returned its mid
                    self._early[mid] = code
                    return
            self._settle(entry, code)

        client.on_publish = _on_publish

    def _track(self, mid: int, entry: tuple[str, bytes, bool, float, int]) -> None:
        """Remember an unacknowledged message by its mid (or settle it if already acked)."""
        with self._retry_lock:
            code = self._early.pop(mid, None)
            if code is None:
                self._inflight[mid] = entry
                return
        self._settle(entry, code)

    def _settle(self, entry: tuple[str, bytes, bool, float, int], code: int) -> None:
        if code == 0 and not entry[2]:
            self._delivered_once = True
        if code == self.UNMATCHED and self._retry(entry):
            return  # keeps its window slot until delivered (or given up)
        if code >= 0x80:
            log.error("broker refused a message to %s: reason %#x", entry[0], code)
        self._acked()

    def _retry(self, entry: tuple[str, bytes, bool, float, int]) -> bool:
        """Schedule ``entry`` again after a 0x10 PUBACK; False: take it as accepted."""
        topic, payload, retain, first, tries = entry
        if retain:
            return False  # the broker keeps a retained message for later subscribers
        if not self._delivered_once:
            # nobody has subscribed since we started (e.g. simulate with no ingest running):
            # waiting would only throttle the publisher to a window per retry period
            self.unmatched_never_subscribed += 1
            return False
        if time.monotonic() - first > self.unmatched_retry_s:
            self.unmatched_given_up += 1
            log.warning(
                "no subscriber for %s after %.0f s of retries: taken as accepted",
                topic,
                self.unmatched_retry_s,
            )
            return False
        self.unmatched_retries += 1
        delay = min(2.0, 0.2 * 2**tries)
        timer = threading.Timer(delay, self._republish, ((topic, payload, retain, first, tries),))
        timer.daemon = True
        timer.start()
        return True

    def _republish(self, entry: tuple[str, bytes, bool, float, int]) -> None:
        topic, payload, retain, first, tries = entry
        info = self.client.publish(topic, payload, qos=self.qos, retain=retain)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            log.error("republishing to %s failed: %s", topic, mqtt.error_string(info.rc))
            self._acked()
            return
        self._track(info.mid, (topic, payload, retain, first, tries + 1))

    @property
    def unacked(self) -> int:
        return self._unacked

    def _acked(self) -> None:
        with self._lock:
            self._unacked -= 1
            if self._unacked == 0:
                self._drained.notify_all()
        self._slots.release()

    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        retain: bool = False,
        stop: threading.Event | None = None,
    ) -> None:
        """Hand one message to paho once a window slot is free; PublishAbortedError on stop."""
        while not self._slots.acquire(timeout=0.5):
            if stop is not None and stop.is_set():
                raise PublishAbortedError(f"stopped with {self._unacked} messages unacknowledged")
        with self._lock:
            self._unacked += 1
        info = self.client.publish(topic, payload, qos=self.qos, retain=retain)
        # NO_CONN: paho keeps QoS>0 messages queued and sends them after the reconnect.
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN) or (
            self.qos == 0 and info.rc != mqtt.MQTT_ERR_SUCCESS
        ):
            self._acked()
            raise ConnectionError(f"publish to {topic} failed: {mqtt.error_string(info.rc)}")
        if self.qos > 0:
            self._track(info.mid, (topic, payload, retain, time.monotonic(), 0))

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Wait until every message is acknowledged; False if some are still unacked."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while self._unacked > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._drained.wait(left)
        return True


def speaks_mqtt5(broker: BrokerUrl, password: str | None, timeout_s: float = 10.0) -> bool:
    """Whether the broker accepts MQTT 5 (Mosquitto does; the embedded amqtt broker does not)."""
    client = make_client(broker, password=password, v5=True)
    done = threading.Event()
    accepted: list[bool] = []

    def _on_connect(c: mqtt.Client, u: object, f: object, rc: object, p: object = None) -> None:
        accepted.append(not getattr(rc, "is_failure", False))
        done.set()

    def _on_disconnect(c: mqtt.Client, u: object, f: object, rc: object, p: object = None) -> None:
        done.set()

    client.on_connect, client.on_disconnect = _on_connect, _on_disconnect
    try:
        client.connect(broker.host, broker.port, 30)
    except OSError as exc:
        raise ConnectionError(f"cannot reach broker {broker}: {exc}") from None
    client.loop_start()
    try:
        if not done.wait(timeout_s):
            raise ConnectionError(f"broker {broker} did not answer within {timeout_s} s")
    finally:
        client.disconnect()
        client.loop_stop()
    return bool(accepted and accepted[0])


class AvailabilityPublisher:
    """A connected client whose every publish goes through one window, availability included.

    The retained ``online`` is (re)published from the publishing thread after each (re)connect,
    never from paho's callback, so each acknowledgement the window counts is one of its own.
    The last will (retained ``offline``) covers an unclean exit; :meth:`close` covers a clean one.
    """

    def __init__(
        self, broker: BrokerUrl, *, password: str | None, component: str, qos: int, window: int
    ) -> None:
        v5 = speaks_mqtt5(broker, password)
        self.client = make_client(broker, password=password, v5=v5, max_inflight=window)
        self.topic = topics.availability_topic(component)
        self.client.will_set(self.topic, b"offline", qos=1, retain=True)
        self._announce = threading.Event()
        self.client.on_connect = lambda *_: self._announce.set()
        self.window = WindowedPublisher(self.client, qos=qos, window=window)
        connect(self.client, broker)
        log.info("publishing to %s with MQTT %s as %s", broker, "5" if v5 else "3.1.1", component)

    def publish(self, topic: str, payload: bytes, stop: threading.Event | None = None) -> None:
        if self._announce.is_set():
            self._announce.clear()
            self.window.publish(self.topic, b"online", retain=True, stop=stop)
        self.window.publish(topic, payload, stop=stop)

    @property
    def unacked(self) -> int:
        return self.window.unacked

    def close(self, timeout_s: float = 30.0) -> bool:
        """Wait for every ack, mark ``offline``, disconnect. False if some never came."""
        drained = self.window.flush(timeout_s)
        if not drained:
            log.error("%d messages still unacknowledged at exit", self.window.unacked)
        else:  # through the window too, so its acknowledgement is counted like the others
            self.window.publish(self.topic, b"offline", retain=True)
            self.window.flush(5.0)
        self.client.disconnect()
        self.client.loop_stop()
        return drained
