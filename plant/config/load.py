"""Loading a plant file: TOML in, a validated :class:`PlantConfig` or a readable error out."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import ValidationError

from plant.config.plant import PlantConfig


class ConfigError(ValueError):
    """An invalid plant file; the message lists each problem with its key path and value."""


def load_config(path: str | Path) -> PlantConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_config(text, source=str(path))


def parse_config(text: str, source: str = "<string>") -> PlantConfig:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    try:
        return PlantConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, raw, source)) from None


def format_errors(exc: ValidationError, raw: object, source: str) -> str:
    lines = [f"{source}: {exc.error_count()} problem(s)"]
    for err in exc.errors():
        path = _path(err["loc"])
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (not allowed here; check the spelling against docs)"
        value = err.get("input")
        shown = "" if err["type"] == "missing" else f" = {_short(value)}"
        lines.append(f"  {path or '<root>'}{shown}: {msg}")
    return "\n".join(lines)


def _path(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
