"""The OpenAPI 3.1 document of the alarm API, generated from the route table and the schemas."""

from __future__ import annotations

import importlib.metadata
import re
from typing import Any

from plant.alarms.api.routes import PREFIX, Route

_PARAM = re.compile(r"\{(\w+)\}")
_ERRORS = {
    "400": "invalid request: the reason is in detail; nothing changed",
    "401": "authentication required",
    "403": "the user's role lacks the permission",
    "404": "no such alarm, asset or user",
    "409": "the action does not apply in the alarm's current state; nothing changed",
    "429": "too many failed logins for this username",
}


def openapi_document(routes: tuple[Route, ...]) -> dict[str, Any]:
    schemas: dict[str, Any] = {
        "Error": {
            "type": "object",
            "required": ["error", "detail"],
            "properties": {"error": {"type": "string"}, "detail": {}},
        }
    }
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, schemas)
    paths[f"{PREFIX}/openapi.json"] = {
        "get": {
            "summary": "this document",
            "operationId": "openapi",
            "responses": {"200": {"description": "OpenAPI 3.1 document"}},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "plantwatch alarm API",
            "version": _version(),
            "description": "ISA-18.2 alarms, maintenance events and health (docs/ALARMS.md).",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"basic": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "basic": {"type": "http", "scheme": "basic"},
            },
        },
    }


def _operation(route: Route, schemas: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": route.summary,
        "operationId": route.handler.__name__,
        "parameters": [_path_param(name) for name in _PARAM.findall(route.path)],
        "responses": {"200": {"description": "OK", "content": _json({"type": "object"})}},
    }
    if route.permission is None:
        op["security"] = []
    else:
        op["description"] = f"needs permission `{route.permission.value}`"
    if route.body is not None:
        name = route.body.__name__
        schemas[name] = _schema(route.body, schemas)
        op["requestBody"] = {"required": True, "content": _json({"$ref": _ref(name)})}
    if route.query is not None:
        schema = _schema(route.query, schemas)
        for key, prop in schema["properties"].items():
            op["parameters"].append({"name": key, "in": "query", "schema": prop})
    for code, text in _ERRORS.items():
        op["responses"][code] = {"description": text, "content": _json({"$ref": _ref("Error")})}
    return op


def _schema(model: Any, schemas: dict[str, Any]) -> dict[str, Any]:
    doc = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(doc.pop("$defs", {}))
    return doc


def _path_param(name: str) -> dict[str, Any]:
    kind = "integer" if name == "alarm_id" else "string"
    return {"name": name, "in": "path", "required": True, "schema": {"type": kind}}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _ref(name: str) -> str:
    return f"#/components/schemas/{name}"


def _version() -> str:
    try:
        return importlib.metadata.version("plantwatch")
    except importlib.metadata.PackageNotFoundError:
        return "0"
