"""Webhook channel: a signed JSON POST per notification.

Headers: ``X-Plantwatch-Timestamp`` (UTC seconds), ``X-Plantwatch-Delivery`` (the same id on every
retry of one notification, so a receiver can drop duplicates) and ``X-Plantwatch-Signature``:
``sha256=`` + hex HMAC-SHA256 over ``<timestamp>.`` + body with the route's secret. A receiver
recomputes it and compares in constant time (docs/ALARMS.md shows how).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request

from plant.alarms.notify.message import Notification

SIGNATURE = "X-Plantwatch-Signature"
TIMESTAMP = "X-Plantwatch-Timestamp"
DELIVERY = "X-Plantwatch-Delivery"


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    return (
        "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    )


class WebhookChannel:
    name = "webhook"

    def __init__(self, url: str, secret: bytes | None, timeout_s: float = 5.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook url {url!r} must be http:// or https://")
        self.url = url
        self.secret = secret
        self.timeout_s = timeout_s

    def send(self, note: Notification) -> None:
        body = json.dumps(note.to_doc(), separators=(",", ":"), allow_nan=False).encode()
        delivery = hashlib.sha256(body).hexdigest()[:32]  # the same on every retry
        timestamp = str(int(time.time()))
        req = urllib.request.Request(self.url, data=body, method="POST")
        req.add_header("Content-Type", "application/json")
        req.add_header("User-Agent", "plantwatch-alarms")
        req.add_header(TIMESTAMP, timestamp)
        req.add_header(DELIVERY, delivery)
        if self.secret:
            req.add_header(SIGNATURE, sign(self.secret, timestamp, body))
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            raise ConnectionError(f"webhook {self.url} answered {exc.code} {exc.reason}") from None
