"""Terminology operations and the read-only conformance resources behind them.

- `CodeSystem/$lookup` (https://hl7.org/fhir/R4/codesystem-operation-lookup.html)
- `ValueSet/$validate-code` (https://hl7.org/fhir/R4/valueset-operation-validate-code.html)
- `ValueSet/$expand` (https://hl7.org/fhir/R4/valueset-operation-expand.html)
- `ConceptMap/$translate` (https://hl7.org/fhir/R4/conceptmap-operation-translate.html)
at type and instance level, GET (query string) and POST (Parameters); plus read and FHIR search (`url`,
`version`, `name`, `title`, `status`, `_id`: fhir_server.search.memory) of the shipped CodeSystem, ValueSet,
ConceptMap and NamingSystem resources.

Inputs are checked here before the terminology package sees them, so that each bad one is a 400 naming it:
`count`/`offset` of the query string, and of a Parameters body its JSON shape, R4B structure and the value[x]
each parameter takes (`Parameters.parameter[2].valueString` where `reverse` wants a valueBoolean).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fhir.resources.R4B.parameters import Parameters

from fhir_server.core.context import RequestContext
from fhir_server.core.result import FhirResult
from fhir_server.errors import FhirError, Problem
from fhir_server.params import parse_non_negative
from fhir_server.search.memory import search_in_memory
from fhir_server.validation import check_structure, parameter_entries
from terminology import operation_inputs
from terminology.errors import TerminologyError
from terminology.operation_inputs import OPERATION_PARAMETERS
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

# The value[x] names each kind of input takes: the terminology package's own table (it has no public name
# for it), so that its checks and ours can never disagree.
_ACCEPTED_VALUE_KEYS = operation_inputs._ACCEPTED_VALUE_KEYS
_STATUS_OF = {"not-found": Problem.NOT_FOUND, "invalid": Problem.INVALID, "not-supported": Problem.INVALID}


def operation(
    service: TerminologyService,
    ctx: RequestContext,
    resource_type: str,
    name: str,
    params: Any,
    resource_id: str | None = None,
) -> FhirResult:
    """`params`: the query string as `QueryValues` (GET), or the parsed Parameters body (POST)."""
    if name not in OPERATIONS.get(resource_type, ()):
        raise FhirError(Problem.NOT_SUPPORTED, f"Operation ${name} is not defined on {resource_type}")
    if isinstance(params, QueryValues):
        _check_query(name, params)
    else:
        _check_parameters(name, params)
    try:
        instance_url = resolve_instance_url(service, resource_type, resource_id) if resource_id else None
        result = run_operation(service, name, params, instance_url)
    except TerminologyError as exc:
        raise FhirError(_STATUS_OF.get(exc.code, Problem.INVALID), exc.diagnostics) from None
    return FhirResult(resource=result)


class QueryValues(dict[str, list[str]]):
    """A query string by name, keeping every value of a repeated parameter (as terminology reads it)."""

    @classmethod
    def of(cls, pairs: Sequence[tuple[str, str]]) -> QueryValues:
        values = cls()
        for key, value in pairs:
            values.setdefault(key, []).append(value)
        return values


def _check_query(name: str, query: QueryValues) -> None:
    """Integers of the query string (`count`, `offset` of $expand): the terminology package would take a
    value of any size and fail to serialize its echo."""
    for parameter, spec in OPERATION_PARAMETERS[name].items():
        if spec.kind == "integer":
            for raw in query.get(parameter, []):
                parse_non_negative(raw, parameter)


def _check_parameters(name: str, body: Any) -> None:
    """A POST body: a Parameters resource whose parameters each carry the value[x] the operation takes."""
    entries = parameter_entries(body, f"${name}")
    check_structure(body, Parameters)
    specs = OPERATION_PARAMETERS[name]
    for path, parameter in entries:
        spec = specs.get(parameter["name"])
        if spec is None or spec.kind == "resource":
            continue  # unknown names and resource parameters: the terminology package's own messages
        # The model allows one value[x] at most; which one is the operation's business.
        value_key = next((key for key in parameter if key.startswith("value")), None)
        accepted = _ACCEPTED_VALUE_KEYS[spec.kind]
        if value_key not in accepted:
            raise FhirError(
                Problem.INVALID,
                f"${name} parameter '{parameter['name']}' takes {' or '.join(accepted)}, "
                f"not {value_key or 'no value'}",
                [f"{path}.{value_key}" if value_key else path],
            )
        if spec.kind == "integer" and parameter[value_key] < 0:
            raise FhirError(
                Problem.INVALID,
                f"${name} parameter '{parameter['name']}' must not be negative",
                [f"{path}.{value_key}"],
            )


def read(
    service: TerminologyService, ctx: RequestContext, resource_type: str, resource_id: str
) -> FhirResult:
    for resource in service.resources():
        if resource.get("resourceType") == resource_type and resource.get("id") == resource_id:
            return FhirResult(resource=resource)
    raise FhirError(Problem.NOT_FOUND, f"{resource_type}/{resource_id} does not exist")


def search(
    service: TerminologyService, ctx: RequestContext, resource_type: str, query: Mapping[str, str]
) -> FhirResult:
    """FHIR search over the shipped resources, with the parameters, rules and paging of every search
    (`fhir_server.search.memory`)."""
    bundle = search_in_memory(service.resources(), resource_type, list(query.items()), ctx)
    return FhirResult(resource=bundle)
