"""Serving the alarm API: a threaded WSGI server on a background thread, loopback unless TLS.

The API carries credentials and tokens, so it listens on loopback by default and refuses any
other bind address unless ``api.tls_cert`` and ``api.tls_key`` are configured (docs/ALARMS.md).
"""

from __future__ import annotations

import ipaddress
import logging
import ssl
import threading

from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from plant.config.alarms import ApiConfig

log = logging.getLogger(__name__)


class InsecureBindError(ValueError):
    """A non-loopback bind without TLS."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(settings: ApiConfig) -> ssl.SSLContext | None:
    """The TLS context to serve with, or None for plain HTTP on loopback; refuse otherwise."""
    if settings.tls_cert and settings.tls_key:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(settings.tls_cert, settings.tls_key)
        return context
    if not is_loopback(settings.host):
        raise InsecureBindError(
            f"alarm API host {settings.host!r} is not loopback: set alarms.api.tls_cert and "
            "alarms.api.tls_key, or bind 127.0.0.1 behind a TLS reverse proxy"
        )
    return None


class ApiServer:
    """``start()`` serves ``app`` on a daemon thread; ``stop()`` shuts it down and joins."""

    def __init__(self, app: Flask, settings: ApiConfig) -> None:
        context = check_bind(settings)
        self._server: BaseWSGIServer = make_server(
            settings.host, settings.port, app, threaded=True, ssl_context=context
        )
        self.scheme = "https" if context else "http"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="alarm-api", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self._server.host}:{self.port}"

    def start(self) -> ApiServer:
        self._thread.start()
        log.info("alarm API listening on %s", self.url)
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)
