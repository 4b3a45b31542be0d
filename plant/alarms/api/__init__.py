"""The alarm HTTP API (Flask WSGI app) under /api/v1, with its OpenAPI document."""

from plant.alarms.api.app import create_app
from plant.alarms.api.server import ApiServer, InsecureBindError, check_bind

__all__ = ["ApiServer", "InsecureBindError", "check_bind", "create_app"]
