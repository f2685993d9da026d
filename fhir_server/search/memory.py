"""FHIR search over resources held in memory: the terminology shipped with the server (CodeSystem,
ValueSet, ConceptMap, NamingSystem), read-only package data.

The same pipeline as a search of the database, minus the database: parameters from the registry (these
types are `standalone_types` of `search-parameters-overlay.json`), parsed by `fhir_server.search.request`
(prefixes, modifiers, errors, `Prefer: handling=strict`, `_count`, `_sort`, `_total`, `_summary=count`),
compiled by `fhir_server.search.compile` into the clauses the engine tests its candidates with, sorted and
paged by keyset `_page` links. Each resource's index keys are extracted as on a write
(`fhir_server.search.extract`); no index is needed for a few hundred resources. There are no references
between them to chain or include, and no model among the stored types for `_summary=true` or `_elements`:
those are a 400.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from fhir_server.core.context import RequestContext
from fhir_server.search import paging
from fhir_server.search.compile import compile_value
from fhir_server.search.conditions import Candidate
from fhir_server.search.criteria import ValueCriterion
from fhir_server.search.extract import resource_keys
from fhir_server.search.page_links import page_links
from fhir_server.search.request import parse_search
from fhir_server.search.searchset import entry, searchset
from fhir_server.search.sorting import sort_candidates
from fhir_server.search.standalone import refuse_unsupported
from fhir_server.settings import Settings
from fhir_server.type_aliases import JsonObject

DEFAULT_COUNT: int = Settings.model_fields["default_page_size"].default
MAX_COUNT: int = Settings.model_fields["max_page_size"].default


def search_in_memory(
    resources: Iterable[JsonObject],
    resource_type: str,
    pairs: Sequence[tuple[str, str]],
    ctx: RequestContext,
    *,
    default_count: int = DEFAULT_COUNT,
    max_count: int = MAX_COUNT,
) -> dict[str, Any]:
    """The searchset Bundle of `resource_type?pairs` over `resources` (of any types)."""
    request = parse_search(
        resource_type, pairs, strict=ctx.prefer.strict, default_count=default_count, max_count=max_count
    )
    refuse_unsupported(request)
    token = paging.decode(request.page, request.sort_signature) if request.page else None
    own_bases = (ctx.base_url,)
    clauses = [compile_value(c, own_bases) for c in request.criteria if isinstance(c, ValueCriterion)]
    matches = [
        candidate
        for candidate in _candidates(resources, resource_type)
        if all(clause.matches(candidate) for clause in clauses)
    ]
    ranked = sort_candidates(matches, request.sort)
    page = paging.paginate(ranked, request.sort, 0 if request.summary == "count" else request.count, token)
    entries = [entry(ctx, c.doc["res"], "match") for c in page.entries if c.doc is not None]
    total = None if request.total == "none" and request.summary != "count" else len(matches)
    return searchset(ctx, resource_type, page_links(request, page), entries, total)


def _candidates(resources: Iterable[JsonObject], resource_type: str) -> list[Candidate]:
    found = []
    for resource in resources:
        if resource.get("resourceType") == resource_type and isinstance(resource.get("id"), str):
            keys, exact = resource_keys(resource)
            found.append(Candidate(resource["id"], resource["id"], keys, exact, {"res": resource}))
    return found
