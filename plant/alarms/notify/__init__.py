"""Alarm notifications: MQTT (retained state), webhook (signed JSON POST) and email (SMTP)."""

from plant.alarms.notify.message import Notification, Notifier

__all__ = ["Notification", "Notifier"]
