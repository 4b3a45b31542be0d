"""The alarm side of ``plantwatch serve`` in one object: engine, notifications, users, API, ticker.

``serve`` (the composition root) builds one :class:`AlarmService`, feeds ``service.engine`` with
health events, machine states, data-quality findings and readings seen, and calls ``stop()`` on
the way out. Everything here is also usable on its own (tests, a separate alarm process).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from plant import topics
from plant.alarms.api import ApiServer, create_app
from plant.alarms.engine import AlarmEngine
from plant.alarms.notify import Dispatcher, build_dispatcher
from plant.config import PlantConfig
from plant.users import UserStore, ensure_admin

log = logging.getLogger(__name__)
ADMIN_PASSWORD_ENV = "PLANTWATCH_ADMIN_PASSWORD"


class AlarmService:
    """Owns the engine, its notifier, the users store, the API server and a tick thread."""

    def __init__(
        self,
        config: PlantConfig,
        *,
        mqtt_client: mqtt.Client | None,
        env: Mapping[str, str],
        clock: Callable[[], int] = time.time_ns,
        tick_s: float = 5.0,
        serve_api: bool = True,
        explain: Callable[[str], dict[str, Any] | None] | None = None,
    ) -> None:
        settings = config.alarms
        if mqtt_client is None:  # no broker: keep the non-MQTT routes
            kept = tuple(r for r in settings.routes if r.channel.value != "mqtt")
            settings = settings.model_copy(update={"routes": kept})
        self.dispatcher: Dispatcher = build_dispatcher(settings, mqtt_client=mqtt_client, env=env)
        self.engine = AlarmEngine(
            config, Path(settings.journal_path), clock=clock, notifier=self.dispatcher
        )
        self.users = UserStore(settings.users_path)
        self.generated_admin_password = ensure_admin(self.users, env.get(ADMIN_PASSWORD_ENV))
        app = create_app(self.engine, self.users, explain=explain) if serve_api else None
        self.server = ApiServer(app, settings.api) if app is not None else None
        self._client = mqtt_client
        self._watch = settings.watch_components if mqtt_client is not None else ()
        self._tick_s = tick_s
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick_loop, name="alarm-tick", daemon=True)

    def start(self) -> AlarmService:
        if self.server is not None:
            self.server.start()
        for component in self._watch:
            self._watch_availability(component)
        self._ticker.start()
        return self

    def _watch_availability(self, component: str) -> None:
        """A component's retained availability (with its last will) drives a chain alarm."""
        topic = topics.availability_topic(component)

        def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
            state = msg.payload.decode(errors="replace").strip()
            if state in ("online", "offline"):
                self.engine.on_silence(component, state == "offline")
            else:
                log.warning("availability of %s: unexpected payload %r", component, state[:40])

        if self._client is not None:
            self._client.message_callback_add(topic, on_message)
            self._client.subscribe(topic, qos=1)

    def _tick_loop(self) -> None:
        while not self._stop.wait(self._tick_s):
            try:
                self.engine.tick()
            except Exception:  # keep ticking: shelve expiry and silence checks must go on
                log.exception("alarm engine tick failed")

    def stop(self) -> None:
        self._stop.set()
        for component in self._watch if self._client is not None else ():
            self._client.message_callback_remove(topics.availability_topic(component))
        if self._ticker.is_alive():
            self._ticker.join(10)
        if self.server is not None:
            self.server.stop()
        self.dispatcher.stop()
        self.engine.close()
        self.users.close()
