"""FHIR JSON type checks that pydantic's lax mode does not make: `"active": "yes"` is not a boolean.

The R4B models coerce ("yes" -> True, "3" -> 3); FHIR JSON (https://hl7.org/fhir/R4/json.html) does not.
Walking the client's JSON against each model's field annotations (cached per model) finds such values,
and nulls or empty arrays/objects, without serializing the model back to JSON.
"""

from __future__ import annotations

import datetime
import decimal
import types
import typing
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import BaseModel

from fhir_server.errors import Issue

Kind = str  # "boolean" | "integer" | "number" | "string" | "object"
FieldSpec = tuple[Kind, bool, type[BaseModel] | None]  # kind, repeats, model of a complex value


def type_issues(data: dict[str, Any], path: str) -> list[Issue]:
    model = get_fhir_model_class(str(data["resourceType"]))
    return list(_walk_object(data, model, path))


def _walk_object(data: dict[str, Any], model: type[BaseModel] | None, path: str) -> Iterator[Issue]:
    fields = _fields(model) if model is not None else {}
    for key, value in data.items():
        if key == "resourceType":
            continue
        child = f"{path}.{key.removeprefix('_')}"
        spec = fields.get(key)
        if value is None or value == [] or value == {}:
            yield Issue(
                "error", "structure", f"{child}: empty or null values are not allowed in FHIR JSON", (child,)
            )
            continue
        if spec is None:
            continue  # unknown elements are the model's to report
        kind, repeats, sub_model = spec
        if repeats:
            if not isinstance(value, list):
                continue  # the model reports a missing array
            for index, item in enumerate(value):
                if item is None and key.startswith("_"):
                    continue  # a primitive array's extension list may hold nulls
                yield from _walk_value(item, kind, sub_model, f"{child}[{index}]", key.startswith("_"))
        else:
            yield from _walk_value(value, kind, sub_model, child, key.startswith("_"))


def _walk_value(
    value: Any, kind: Kind, model: type[BaseModel] | None, path: str, extension: bool
) -> Iterator[Issue]:
    if value is None and not extension:
        # null is allowed only to align a primitive array with its extensions (then `_x` carries it).
        return
    if kind == "object":
        if isinstance(value, dict):
            if "resourceType" in value:  # contained resources: the type is in the data
                try:
                    model = get_fhir_model_class(str(value["resourceType"]))
                except KeyError:
                    return
            yield from _walk_object(value, model, path)
        return
    if not _matches(value, kind):
        yield Issue("error", "structure", f"{path}: expected a JSON {kind}, got {_json_kind(value)}", (path,))


def _matches(value: Any, kind: Kind) -> bool:
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, str)


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


@lru_cache(maxsize=512)
def _fields(model: type[BaseModel]) -> dict[str, FieldSpec]:
    specs: dict[str, FieldSpec] = {}
    for name, info in model.model_fields.items():
        key = info.alias or name
        specs[key] = _spec(info.annotation)
    return specs


def _spec(annotation: Any) -> FieldSpec:
    repeats = False
    inner = annotation
    while True:
        origin = typing.get_origin(inner)
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(inner) if a is not type(None)]
            inner = args[0] if args else Any
        elif origin in (list, typing.List):  # noqa: UP006 - the models use typing.List
            repeats = True
            inner = typing.get_args(inner)[0]
        elif origin is typing.Annotated:
            inner = typing.get_args(inner)[0]
        else:
            break
    kind, model = _kind(inner)
    return kind, repeats, model


def _kind(python_type: Any) -> tuple[Kind, type[BaseModel] | None]:
    if python_type is bool:
        return "boolean", None
    if python_type is int:
        return "integer", None
    if python_type in (float, decimal.Decimal):
        return "number", None
    if python_type in (str, datetime.date, datetime.datetime, datetime.time) or (
        isinstance(python_type, type) and issubclass(python_type, str | datetime.date | datetime.time)
    ):
        return "string", None
    name = getattr(python_type, "__name__", "")
    if name.endswith("Type") and name != "Type":
        try:
            return "object", get_fhir_model_class(name.removesuffix("Type"))
        except KeyError:
            return "object", None
    return "object", None
