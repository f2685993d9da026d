"""Parsing and validating request bodies: JSON syntax and nesting depth, resourceType and id against the
URL, the R4B structure of the resource (unknown elements, wrong types, cardinality, primitive formats), and
the JSON shape of operation `Parameters`.

Every problem becomes a 400 OperationOutcome whose `expression` names the offending element.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from fhir_server.errors import FhirError, Issue, Problem
from fhir_server.json_types import type_issues
from fhir_server.resource_types import require_type, require_valid_id
from fhir_server.type_aliases import JsonObject

# Write-time code checks (terminology bindings) plug in here; each returns issues for a resource.
ResourceChecker = Callable[[JsonObject], Sequence[Issue]]


# Deepest nesting of JSON objects and arrays accepted in a request body, the body itself being level 1.
# Real resources stay far below it (a Bundle entry's resource with nested extensions or Questionnaire items:
# a few dozen); the R4B models validate one Python stack frame per level and exhaust the stack at ~150
# nested extensions, which would be a 500 instead of a 400.
MAX_JSON_DEPTH = 100
# Scanning JSON text only when orjson refuses it for depth (its own limit is 1024): strings, punctuation
# and the other scalars.
_JSON_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[{}\[\],:]|[^\s{}\[\],:"]+')
Location = list[str | int]


def parse_json(body: bytes) -> Any:
    if not body.strip():
        raise FhirError(Problem.STRUCTURE, "The request body is empty; a FHIR JSON resource was expected")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if "depth" in exc.msg and (found := _too_deep_in_text(body)) is not None:
            raise _too_deep(*found) from None
        raise FhirError(Problem.STRUCTURE, f"The request body is not valid JSON: {exc}") from None
    if _nested_too_deep(data):
        root = data.get("resourceType") if isinstance(data, dict) else None
        raise _too_deep(root if isinstance(root, str) else None, _too_deep_in_data(data))
    return data


def check_depth(data: JsonObject, resource_type: str) -> None:
    """For a resource that did not come through `parse_json` (one a JSON Patch built from a stored one):
    every request body is checked once, when it is parsed."""
    if _nested_too_deep(data):
        raise _too_deep(resource_type, _too_deep_in_data(data), f"The {resource_type}")


def _too_deep(resource_type: str | None, location: Location, subject: str = "The request body") -> FhirError:
    return FhirError(
        Problem.STRUCTURE,
        f"{subject} nests JSON objects and arrays more than {MAX_JSON_DEPTH} levels deep; "
        "the expression names the first element beyond that",
        [element_path(resource_type, location)],
    )


def _nested_too_deep(data: Any) -> bool:
    """Whether any object or array lies below level MAX_JSON_DEPTH: one level at a time, without recursion
    and without paths (a 6 MB Bundle takes ~0.1 s, against ~0.3 s for orjson to parse it)."""
    level = [data] if type(data) is dict or type(data) is list else []
    for _ in range(MAX_JSON_DEPTH):
        if not level:
            return False
        below: list[Any] = []
        for node in level:
            values = node.values() if type(node) is dict else node
            below += [v for v in values if type(v) is dict or type(v) is list]
        level = below
    return bool(level)


def _too_deep_in_data(data: Any) -> Location:
    """Where the first container (in document order) below level MAX_JSON_DEPTH is, for a body that has one:
    depth first without recursion. Each entry carries its parent's trail as a linked pair, so that a path
    is only built for the one reported."""
    stack: list[tuple[Any, int, Any]] = [(data, 1, None)]
    while stack:
        node, depth, trail = stack.pop()
        children = [
            (key, child)
            for key, child in (node.items() if isinstance(node, dict) else enumerate(node))
            if isinstance(child, dict | list)
        ]
        if children and depth == MAX_JSON_DEPTH:
            return _unwind((trail, children[0][0]))
        stack.extend((child, depth + 1, (trail, key)) for key, child in reversed(children))
    raise AssertionError("called for a body nested deeper than MAX_JSON_DEPTH")


def _unwind(trail: Any) -> Location:
    location: Location = []
    while trail is not None:
        trail, key = trail
        location.append(key)
    location.reverse()
    return location


def _too_deep_in_text(body: bytes) -> tuple[str | None, Location] | None:
    """The same location found in the text of a body orjson would not parse, token by token, stopping at
    the first container below level MAX_JSON_DEPTH; and the top-level resourceType if it came before."""
    keys: Location = []  # per open container: the current member name or array index
    in_object: list[bool] = []
    expect_key = False
    resource_type: str | None = None
    for match in _JSON_TOKEN.finditer(body):
        token = match.group()
        first = token[:1]
        if first in (b"{", b"["):
            if len(keys) == MAX_JSON_DEPTH:
                return resource_type, keys
            keys.append("" if first == b"{" else 0)
            in_object.append(first == b"{")
            expect_key = first == b"{"
        elif first in (b"}", b"]"):
            if keys:
                keys.pop()
                in_object.pop()
            expect_key = False
        elif first == b"," and keys:
            if in_object[-1]:
                expect_key = True
            else:
                keys[-1] = int(keys[-1]) + 1
        elif first == b'"' and expect_key:
            keys[-1] = _json_string(token)
            expect_key = False
        elif first == b'"' and keys == ["resourceType"]:
            resource_type = _json_string(token)
    return None


def _json_string(token: bytes) -> str:
    try:
        return str(orjson.loads(token))
    except orjson.JSONDecodeError:
        return token[1:-1].decode("utf-8", "replace")


def element_path(root: str | None, location: Sequence[str | int]) -> str:
    """`Patient.extension[0].url`; without a root (a body that is no resource) `extension[0].url`."""
    path = root or ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path


def parse_resource(body: bytes, resource_type: str) -> JsonObject:
    return check_resource_shape(parse_json(body), resource_type)


def check_resource_shape(data: Any, resource_type: str) -> JsonObject:
    if not isinstance(data, dict):
        raise FhirError(Problem.STRUCTURE, "The request body must be a JSON object (a FHIR resource)")
    declared = data.get("resourceType")
    if declared is None:
        raise FhirError(Problem.REQUIRED, "The resource has no 'resourceType'", ["resourceType"])
    if declared != resource_type:
        raise FhirError(
            Problem.INVALID,
            f"resourceType '{declared}' does not match the resource type of the URL ('{resource_type}')",
            ["resourceType"],
        )
    return data


def validate_resource(
    data: JsonObject, checkers: Sequence[ResourceChecker] = (), *, model_checked: bool = False
) -> tuple[JsonObject, list[Issue]]:
    """Validate against the R4B model; returns the JSON to store and any warnings from `checkers`.

    `model_checked`: the resource was built by our own mappers and already validated against the same
    R4B model (bulk import); the model pass is not repeated, everything else is.
    """
    resource_type = str(data["resourceType"])
    model = require_type(resource_type)
    if "id" in data:
        if not isinstance(data["id"], str):
            raise FhirError(Problem.VALUE, "Resource id must be a string", [f"{resource_type}.id"])
        require_valid_id(data["id"], f"{resource_type}.id")
    check_structure(data, model, model_checked=model_checked)
    # The client's JSON is what we store: the models have accepted it and its JSON types are right, and
    # serializing the model back would cost as much as validating it.
    normalized = data
    warnings: list[Issue] = []
    for check in checkers:
        for issue in check(normalized):
            if issue.severity in ("error", "fatal"):
                raise FhirError(Problem.VALUE, issue.diagnostics, issue.expression, extra_issues=warnings)
            warnings.append(issue)
    return normalized, warnings


def check_structure(data: JsonObject, model: type[BaseModel], *, model_checked: bool = False) -> None:
    """The R4B model's verdict and the JSON types it lets through, as a 400 naming each bad element."""
    resource_type = str(data["resourceType"])
    try:
        if not model_checked:
            model.model_validate(data)
    except ValidationError as exc:
        issues = [_issue_from_pydantic(resource_type, err) for err in exc.errors()]
        raise FhirError(
            Problem.STRUCTURE, issues[0].diagnostics, issues[0].expression, extra_issues=issues[1:]
        ) from None
    type_problems = type_issues(data, resource_type)
    if type_problems:
        raise FhirError(
            Problem.STRUCTURE,
            type_problems[0].diagnostics,
            type_problems[0].expression,
            extra_issues=type_problems[1:],
        )


def parameter_entries(data: Any, operation: str) -> list[tuple[str, JsonObject]]:
    """The top-level `parameter`s of an operation's Parameters body, each with its path, once the JSON
    shapes every operation relies on are checked: an object of resourceType Parameters, `parameter` an array
    of objects with a string `name`, and the same for every `part` below. Values are the operation's to check.
    """
    if not isinstance(data, dict):
        raise FhirError(Problem.STRUCTURE, f"{operation} takes a Parameters resource (a JSON object)")
    if data.get("resourceType") != "Parameters":
        raise FhirError(
            Problem.INVALID, f"{operation} takes a Parameters resource as its body", ["resourceType"]
        )
    entries: list[tuple[str, JsonObject]] = []
    # Parts nest (a part may have parts): a work list rather than recursion, the top level first.
    pending: list[tuple[str, Any, str]] = [("Parameters.parameter", data.get("parameter", []), "parameter")]
    while pending:
        path, items, element = pending.pop()
        if not isinstance(items, list):
            raise FhirError(Problem.STRUCTURE, f"{path}: expected a JSON array of parameters", [path])
        for index, item in enumerate(items):
            where = f"{path}[{index}]"
            if not isinstance(item, dict):
                raise FhirError(Problem.STRUCTURE, f"{where}: expected a JSON object (a parameter)", [where])
            if not isinstance(item.get("name"), str):
                problem = Problem.REQUIRED if item.get("name") is None else Problem.STRUCTURE
                raise FhirError(
                    problem, f"{where}.name: every {element} needs a string name", [f"{where}.name"]
                )
            if "part" in item:
                pending.append((f"{where}.part", item["part"], "part"))
            if element == "parameter":
                entries.append((where, item))
    return entries


def fhir_path(resource_type: str, loc: Sequence[int | str]) -> str:
    """A pydantic error location as an element path, without pydantic's own `__…` steps."""
    return element_path(resource_type, [p for p in loc if isinstance(p, int) or not p.startswith("__")])


def _issue_from_pydantic(resource_type: str, err: Any) -> Issue:
    path = fhir_path(resource_type, err.get("loc", ()))
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        message = f"Unknown element '{path.rsplit('.', 1)[-1]}' at {path}"
    elif kind in ("json_invalid", "model_type", "dict_type", "model_attributes_type"):
        message = f"{path}: expected a JSON object (a FHIR complex type)"
    elif kind == "missing":
        message = f"{path}: required element is missing"
    elif kind == "list_type":
        message = f"{path}: expected a JSON array (the element repeats)"
    else:
        message = f"{path}: {err.get('msg', 'invalid value')}"
    return Issue("error", "structure" if kind != "missing" else "required", message, (path,))
