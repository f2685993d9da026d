"""Terminology operations and the read-only conformance resources behind them.

- `CodeSystem/$lookup` (https://hl7.org/fhir/R4/codesystem-operation-lookup.html)
- `ValueSet/$validate-code` (https://hl7.org/fhir/R4/valueset-operation-validate-code.html)
- `ValueSet/$expand` (https://hl7.org/fhir/R4/valueset-operation-expand.html)
- `ConceptMap/$translate` (https://hl7.org/fhir/R4/conceptmap-operation-translate.html)
at type and instance level, GET (query string) and POST (Parameters); plus read and a small search
(`url`, `name`, `status`, `_id`) of the shipped CodeSystem, ValueSet, ConceptMap and NamingSystem resources.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.responses import Response

from fhir_server.api.context import RequestContext
from fhir_server.api.responses import FhirJSONResponse
from fhir_server.errors import FhirError, Problem
from terminology.errors import TerminologyError
from terminology.parameters import resolve_instance_url, run_operation
from terminology.service import TerminologyService

OPERATIONS: dict[str, tuple[str, ...]] = {
    "CodeSystem": ("lookup",),
    "ValueSet": ("validate-code", "expand"),
    "ConceptMap": ("translate",),
}
READ_ONLY_TYPES = ("CodeSystem", "ValueSet", "ConceptMap", "NamingSystem")
SEARCH_PARAMETER_TYPES = (("_id", "token"), ("url", "uri"), ("name", "string"), ("status", "token"))
SEARCH_PARAMETERS = tuple(name for name, _ in SEARCH_PARAMETER_TYPES)

_STATUS_OF = {"not-found": Problem.NOT_FOUND, "invalid": Problem.INVALID, "not-supported": Problem.INVALID}


def capability_operations() -> dict[str, list[dict[str, str]]]:
    return {
        resource_type: [
            {"name": op, "definition": f"http://hl7.org/fhir/OperationDefinition/{resource_type}-{op}"}
            for op in ops
        ]
        for resource_type, ops in OPERATIONS.items()
    }


def operation(
    service: TerminologyService,
    ctx: RequestContext,
    resource_type: str,
    name: str,
    params: Any,
    resource_id: str | None = None,
) -> Response:
    if name not in OPERATIONS.get(resource_type, ()):
        raise FhirError(Problem.NOT_SUPPORTED, f"Operation ${name} is not defined on {resource_type}")
    try:
        instance_url = resolve_instance_url(service, resource_type, resource_id) if resource_id else None
        result = run_operation(service, name, params, instance_url)
    except TerminologyError as exc:
        raise FhirError(_STATUS_OF.get(exc.code, Problem.INVALID), exc.diagnostics) from None
    return FhirJSONResponse(result, pretty=ctx.pretty)


def read(service: TerminologyService, ctx: RequestContext, resource_type: str, resource_id: str) -> Response:
    for resource in service.resources():
        if resource.get("resourceType") == resource_type and resource.get("id") == resource_id:
            return FhirJSONResponse(resource, pretty=ctx.pretty)
    raise FhirError(Problem.NOT_FOUND, f"{resource_type}/{resource_id} does not exist")


def search(
    service: TerminologyService, ctx: RequestContext, resource_type: str, query: Mapping[str, str]
) -> Response:
    criteria = {k: v for k, v in query.items() if k in SEARCH_PARAMETERS}
    if ctx.prefer.strict:
        unknown = [k for k in query if k not in SEARCH_PARAMETERS and k not in ("_format", "_pretty")]
        if unknown:
            raise FhirError(Problem.INVALID, f"Unknown search parameter '{unknown[0]}'", [unknown[0]])
    matches = [
        r
        for r in service.resources()
        if r.get("resourceType") == resource_type
        and all(str(r.get("id" if k == "_id" else k, "")) in v.split(",") for k, v in criteria.items())
    ]
    self_url = ctx.url(resource_type) + (
        "?" + "&".join(f"{k}={v}" for k, v in criteria.items()) if criteria else ""
    )
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(matches),
        "link": [{"relation": "self", "url": self_url}],
        "entry": [
            {"fullUrl": ctx.url(resource_type, r["id"]), "resource": r, "search": {"mode": "match"}}
            for r in matches
        ],
    }
    return FhirJSONResponse(bundle, pretty=ctx.pretty)
