"""Parsing and validating request bodies: JSON syntax, resourceType and id against the URL, and the
R4B structure of the resource (unknown elements, wrong types, cardinality, primitive formats).

Every problem becomes a 400 OperationOutcome whose `expression` names the offending element.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson
from pydantic import ValidationError

from fhir_server.errors import FhirError, Issue, Problem
from fhir_server.json_types import type_issues
from fhir_server.resource_types import require_type, require_valid_id

JsonObject = dict[str, Any]

# Write-time code checks (terminology bindings) plug in here; each returns issues for a resource.
ResourceChecker = Callable[[JsonObject], Sequence[Issue]]


def parse_json(body: bytes) -> Any:
    if not body.strip():
        raise FhirError(Problem.STRUCTURE, "The request body is empty; a FHIR JSON resource was expected")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise FhirError(Problem.STRUCTURE, f"The request body is not valid JSON: {exc}") from None


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


def fhir_path(resource_type: str, loc: Sequence[int | str]) -> str:
    path = resource_type
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif not part.startswith("__"):
            path += f".{part}"
    return path


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
