"""patch: PATCH [base]/[type]/[id] with a JSON Patch body (https://hl7.org/fhir/R4/http.html#patch,
RFC 6902, applied with the `jsonpatch` library) or a JSON Merge Patch body (RFC 7396,
`application/merge-patch+json`: an object whose members replace, add, or with `null` remove elements).

A malformed patch document is 400; a patch that cannot be applied (missing path, failed `test`) or that
produces an invalid resource is 422, naming the element. The patch is applied to the current version
and written only if that version is still current: with `If-Match` a stale version is 412, without it
the patch is re-applied to the newer version.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jsonpatch

from fhir_server.core.context import RequestContext
from fhir_server.core.result import FhirResult, resource_result
from fhir_server.errors import FhirError, Problem
from fhir_server.interactions.common import WriteRules, conflict, existing_version, parse_version_etag
from fhir_server.storage.repository import Repository, VersionConflict
from fhir_server.validation import check_depth, parse_json

_RETRIES = 5


def patch(
    repository: Repository,
    ctx: RequestContext,
    rules: WriteRules,
    resource_type: str,
    resource_id: str,
    body: bytes,
    *,
    if_match: str | None = None,
    merge: bool = False,
) -> FhirResult:
    document = parse_json(body)
    apply = _merge_patch(document) if merge else _json_patch(_parse_patch(document))
    expected = parse_version_etag(if_match) if if_match else None
    for _ in range(_RETRIES):
        current = existing_version(repository, resource_type, resource_id)
        if expected is not None and current.version != expected:
            raise conflict(resource_type, resource_id, expected, current.version)
        patched = apply(current.resource or {})
        if patched.get("resourceType") != resource_type or patched.get("id") != resource_id:
            raise FhirError(
                Problem.UNPROCESSABLE, "A patch may not change resourceType or id", [f"{resource_type}.id"]
            )
        try:
            check_depth(patched, resource_type)
            resource, warnings = rules.validate(patched)
        except FhirError as exc:
            raise FhirError(
                Problem.UNPROCESSABLE,
                f"The patched resource is invalid: {exc.diagnostics}",
                exc.expression,
                extra_issues=exc.extra_issues,
            ) from None
        try:
            version, _ = repository.update(resource, expected_version=current.version, method="PATCH")
        except VersionConflict as exc:
            if expected is not None:
                raise conflict(resource_type, resource_id, expected, exc.current_version) from None
            continue
        return resource_result(
            ctx,
            version,
            outcome_message=f"Patched {version.reference} to version {version.version}",
            warnings=warnings,
        )
    raise FhirError(Problem.CONFLICT, f"{resource_type}/{resource_id} is being changed by others; retry")


def _parse_patch(document: Any) -> jsonpatch.JsonPatch:
    if not isinstance(document, list):
        raise FhirError(Problem.STRUCTURE, "A JSON Patch body must be a JSON array of operations")
    for index, operation in enumerate(document):
        if not isinstance(operation, dict) or "op" not in operation or "path" not in operation:
            raise FhirError(
                Problem.STRUCTURE, f"JSON Patch operation {index} needs 'op' and 'path'", [f"[{index}]"]
            )
    try:
        return jsonpatch.JsonPatch(document)
    except (jsonpatch.InvalidJsonPatch, jsonpatch.JsonPointerException) as exc:
        raise FhirError(Problem.STRUCTURE, f"Invalid JSON Patch: {exc}") from None


Apply = Callable[[dict[str, Any]], dict[str, Any]]


def _json_patch(operations: jsonpatch.JsonPatch) -> Apply:
    return lambda resource: _apply(operations, resource)


def _merge_patch(document: Any) -> Apply:
    if not isinstance(document, dict):
        raise FhirError(Problem.STRUCTURE, "A JSON Merge Patch body must be a JSON object (RFC 7396)")
    return lambda resource: merged(resource, document)


def merged(target: Any, patch: Any) -> Any:
    """RFC 7396 section 2, MergePatch(Target, Patch), without changing either argument. (Eight lines of the
    RFC's own pseudocode; the PyPI implementations follow the obsolete RFC 7386 or are unmaintained.)"""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = merged(result.get(name), value)
    return result


def _apply(operations: jsonpatch.JsonPatch, resource: dict[str, Any]) -> dict[str, Any]:
    try:
        result = operations.apply(resource)
    except jsonpatch.JsonPatchTestFailed as exc:
        raise FhirError(Problem.UNPROCESSABLE, f"JSON Patch test failed: {exc}") from None
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
        raise FhirError(Problem.UNPROCESSABLE, f"JSON Patch cannot be applied: {exc}") from None
    if not isinstance(result, dict):
        raise FhirError(Problem.UNPROCESSABLE, "JSON Patch must leave a resource (a JSON object)")
    return result
