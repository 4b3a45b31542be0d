"""The plant file's reference (docs/CONFIG.md), generated from the pydantic models themselves.

So the page can never disagree with what ``plantwatch config check`` accepts: every key, its
type, default, allowed range or values, and description come from the field declarations.
``plantwatch config reference`` prints it; a test checks docs/CONFIG.md is current.
"""

from __future__ import annotations

import enum
import types
import typing
from typing import Any

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from plant.config.plant import PlantConfig

HEADER = """# Plant configuration reference

Generated from the pydantic models in `plant/config/` by `plantwatch config reference`
(do not edit by hand: `tests/test_contracts_config.py` checks this page is current). A plant file
is TOML; `plantwatch config check FILE` validates one and names the key path, the value and what
is allowed for every problem. Unknown keys are refused. `configs/plant.toml` is a small example,
`configs/benchmark.toml` the 200-asset benchmark plant.

Tables of tables (`[[areas]]`, `[[assets]]`, ...) are arrays: each entry has the keys listed
under its section.
"""


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The config sections an annotation refers to (directly, in a tuple, list or union)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found += _models_in(arg)
    return found


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if origin in (tuple, list):
        inner = [a for a in args if a is not Ellipsis]
        return f"array of {_type_name(inner[0])}" if inner else "array"
    if origin is dict:
        return f"table of {_type_name(args[1])}" if len(args) == 2 else "table"
    if annotation is type(None):
        return "none"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "one of " + ", ".join(f"`{m.value}`" for m in annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"[{annotation.__name__}](#{annotation.__name__.lower()})"
    return getattr(annotation, "__name__", str(annotation))


_BOUNDS = (
    (annotated_types.Ge, "ge", "≥"),
    (annotated_types.Gt, "gt", ">"),
    (annotated_types.Le, "le", "≤"),
    (annotated_types.Lt, "lt", "<"),
    (annotated_types.MinLen, "min_length", "length ≥"),
    (annotated_types.MaxLen, "max_length", "length ≤"),
)


def _constraints(field: FieldInfo) -> str:
    parts = []
    metadata = list(field.metadata)
    for arg in typing.get_args(field.annotation):  # Annotated aliases such as Id
        metadata += getattr(arg, "__metadata__", ())
    for item in metadata:
        for kind, attr, sign in _BOUNDS:
            if isinstance(item, kind):
                parts.append(f"{sign} {getattr(item, attr)}")
        pattern = getattr(item, "pattern", None)
        if isinstance(pattern, str):
            parts.append(f"matches `{pattern}`")
        elif isinstance(item, FieldInfo):
            parts += [p for p in [_constraints(item)] if p]
    return ", ".join(dict.fromkeys(parts))


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "**required**"
    value = field.default
    if value is PydanticUndefined and field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
    if isinstance(value, BaseModel):
        return "(section defaults)"
    if isinstance(value, enum.Enum):
        value = value.value
    if value in ((), []):
        return "empty"
    return f"`{value!r}`" if value is not None else "none"


def _description(field: FieldInfo) -> str:
    """The field's description, else that of an Annotated alias it uses (e.g. ``Id``)."""
    aliases = [
        item.description
        for arg in typing.get_args(field.annotation)
        for item in getattr(arg, "__metadata__", ())
        if isinstance(item, FieldInfo) and item.description
    ]
    text = field.description or next(iter(aliases), "")
    return text.replace("|", "\\|").replace("\n", " ")


def _section(model: type[BaseModel], path: str) -> list[str]:
    doc = (model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
    lines = [f"## {model.__name__}", "", f"Key path: `{path}`." + (f" {doc}" if doc else ""), ""]
    lines += ["| key | type | default | allowed | description |", "|---|---|---|---|---|"]
    for name, field in model.model_fields.items():
        allowed = _constraints(field).replace("|", "\\|")
        lines.append(
            f"| `{name}` | {_type_name(field.annotation)} | {_default(field)} | "
            f"{allowed} | {_description(field)} |"
        )
    return [*lines, ""]


def reference_markdown(root: type[BaseModel] = PlantConfig) -> str:
    """Markdown for every section reachable from ``root``, in order of first appearance."""
    seen: dict[type[BaseModel], str] = {}
    queue: list[tuple[type[BaseModel], str]] = [(root, "(top level)")]
    while queue:
        model, path = queue.pop(0)
        if model in seen:
            continue
        seen[model] = path
        for name, field in model.model_fields.items():
            array = typing.get_origin(field.annotation) in (tuple, list)
            child = f"{name}[]" if array else name
            child_path = child if path == "(top level)" else f"{path}.{child}"
            queue += [(m, child_path) for m in _models_in(field.annotation) if m not in seen]
    out = [HEADER]
    for model, path in seen.items():
        out += _section(model, path)
    return "\n".join(out).rstrip() + "\n"
