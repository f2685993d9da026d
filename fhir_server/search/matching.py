"""Criteria matching for conditional interactions (`If-None-Exist`, `PUT/DELETE [type]?criteria`,
conditional references in transactions): a strict search on the type that must name a parameter
(https://hl7.org/fhir/R4/http.html#ccreate). Runs on whatever engine it is given — the secured store's
engine for requests, so criteria only ever match what the caller may search."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fhir_server.errors import FhirError, Problem
from fhir_server.resource_types import require_type
from fhir_server.search.conditions import Candidate
from fhir_server.search.engine import SearchEngine
from fhir_server.search.request import parse_search

Criteria = list[tuple[str, str]]


def parse_criteria(resource_type: str, query: str, expression: str) -> Criteria:
    require_type(resource_type)
    pairs = [(k, v) for k, v in parse_qsl(query.lstrip("?"), keep_blank_values=True) if v != ""]
    if not pairs:
        raise FhirError(
            Problem.INVALID, f"{expression} needs search criteria, e.g. identifier=system|value", [expression]
        )
    return pairs


def matches(engine: SearchEngine, resource_type: str, criteria: Criteria) -> list[Candidate]:
    request = parse_search(
        resource_type,
        criteria,
        strict=True,
        default_count=1,
        max_count=1,
        allow_results=False,
        max_or_values=engine.limits.max_or_values,
        max_parameters=engine.limits.max_parameters,
    )
    return sorted(engine.candidates(resource_type, engine.clauses(request.criteria)), key=lambda c: c.id)


def matching_ids(engine: SearchEngine, resource_type: str, query_string: str) -> list[str]:
    """Ids of live resources matching `Type?query_string`."""
    criteria = parse_criteria(resource_type, query_string, "criteria")
    return [c.id for c in matches(engine, resource_type, criteria)]
