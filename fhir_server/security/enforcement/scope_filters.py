"""Scope filters (`patient/ImagingStudy.rs?modality=CT`, App Launch 2.2 §finer-grained-resource-constraints-
using-search-parameters) decided with the search module's own semantics: a filter `param=value` matches a
resource exactly when the search `[type]?param=value` would find it.

Only plain value parameters are evaluated (no chains, `_has` or result parameters). A filter the server
cannot evaluate matches nothing, so an unsupported filter narrows access to nothing rather than widening it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fhir_server.errors import FhirError
from fhir_server.search.compile import compile_value
from fhir_server.search.conditions import Candidate, Clause
from fhir_server.search.criteria import ValueCriterion
from fhir_server.search.extract import resource_keys
from fhir_server.search.request import parse_criterion
from fhir_server.search.values import split_unescaped

log = logging.getLogger(__name__)


def compile_filters(
    resource_type: str, filters: Sequence[tuple[str, str]], bases: Sequence[str]
) -> list[Clause] | None:
    """The filters as search clauses, or None when one cannot be evaluated (it then grants nothing).
    Shared by the per-resource check below and the query clauses of fhir_server.security.access.clauses, so
    the two can never disagree."""
    clauses = []
    try:
        for name, value in filters:
            values = tuple(v for v in split_unescaped(value, ",") if v)
            criterion = parse_criterion(resource_type, name, values, name) if values else None
            if not isinstance(criterion, ValueCriterion):
                return None
            clauses.append(compile_value(criterion, bases))
    except FhirError:
        return None
    return clauses


def matches_filters(
    resource_type: str, resource: dict[str, Any], filters: tuple[tuple[str, str], ...], base_url: str
) -> bool:
    if not filters:
        return True
    clauses = compile_filters(resource_type, filters, [base_url])
    if clauses is None:
        return False
    try:
        keys, exact = resource_keys({**resource, "resourceType": resource_type}, [base_url])
        candidate = Candidate("", str(resource.get("id") or ""), keys, exact)
        return all(clause.matches(candidate) for clause in clauses)
    except FhirError:
        return False
    except Exception:  # a search-module failure must deny, never allow
        log.exception("scope filter %r on %s could not be evaluated", filters, resource_type)
        return False
