"""Build the engine's notifier from the ``[alarms]`` routes (called by the serve entry point)."""

from __future__ import annotations

from collections.abc import Mapping

import paho.mqtt.client as mqtt

from plant.alarms.notify.dispatch import Channel, Dispatcher, RouteWorker
from plant.alarms.notify.mail import EmailChannel
from plant.alarms.notify.mqtt import MqttChannel
from plant.alarms.notify.webhook import WebhookChannel
from plant.config.alarms import AlarmsConfig, RouteConfig
from plant.config.alarms import Channel as Kind


def build_dispatcher(
    settings: AlarmsConfig, *, mqtt_client: mqtt.Client | None, env: Mapping[str, str]
) -> Dispatcher:
    """One worker per route. ``env`` is the entry point's environment (webhook/SMTP secrets)."""
    workers = []
    for route in settings.routes:
        if route.channel is Kind.MQTT and mqtt_client is None:
            raise ValueError("an mqtt notification route needs a connected MQTT client")
        channel = _channel(route, mqtt_client, env)
        workers.append(RouteWorker(channel, route, all_events=route.channel is Kind.MQTT))
    return Dispatcher(workers)


def _channel(route: RouteConfig, client: mqtt.Client | None, env: Mapping[str, str]) -> Channel:
    if route.channel is Kind.MQTT:
        return MqttChannel(client, timeout_s=route.timeout_s)  # type: ignore[arg-type]
    if route.channel is Kind.WEBHOOK:
        secret = _secret(route.secret_env, env)
        return WebhookChannel(route.url or "", secret.encode() if secret else None, route.timeout_s)
    password = _secret(route.smtp_password_env, env)
    return EmailChannel(
        route.smtp_host,
        route.smtp_port,
        route.sender,
        route.recipients,
        timeout_s=route.timeout_s,
        starttls=route.smtp_starttls,
        user=route.smtp_user,
        password=password,
    )


def _secret(name: str | None, env: Mapping[str, str]) -> str | None:
    if name is None:
        return None
    if not env.get(name):
        raise ValueError(f"environment variable {name} (a notification secret) is not set")
    return env[name]
