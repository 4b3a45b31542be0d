"""Alarm notifications: MQTT (retained state), webhook (signed JSON POST) and email (SMTP)."""

from plant.alarms.notify.build import build_dispatcher
from plant.alarms.notify.dispatch import Dispatcher, RouteWorker
from plant.alarms.notify.mail import EmailChannel
from plant.alarms.notify.message import Notification, Notifier
from plant.alarms.notify.mqtt import MqttChannel
from plant.alarms.notify.webhook import WebhookChannel

__all__ = [
    "Dispatcher",
    "EmailChannel",
    "MqttChannel",
    "Notification",
    "Notifier",
    "RouteWorker",
    "WebhookChannel",
    "build_dispatcher",
]
