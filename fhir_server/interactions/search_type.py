"""search-type: GET [base]/[type]?… and POST [base]/[type]/_search (https://hl7.org/fhir/R4/http.html#search,
https://hl7.org/fhir/R4/search.html).

Answers a searchset Bundle: matches (search.mode=match) in `_sort` order (resource id by default), one page
of `_count` with keyset `_page` links (self, first, prev/previous, next), `_include`/`_revinclude` resources
(search.mode=include) and, when the include limit cut them, an OperationOutcome entry (search.mode=outcome).
`total` is exact (the match set is computed in full); `_total=none` leaves it out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from fhir_server.core.context import RequestContext
from fhir_server.core.result import FhirResult
from fhir_server.errors import Issue
from fhir_server.resource_types import require_type
from fhir_server.search import paging
from fhir_server.search.access import Visible, everything_visible
from fhir_server.search.conditions import Candidate
from fhir_server.search.elements import reduce
from fhir_server.search.engine import SearchEngine
from fhir_server.search.includes import Typed, resolve_includes
from fhir_server.search.page_links import page_links
from fhir_server.search.request import SearchRequest, parse_search
from fhir_server.search.searchset import entry, outcome_entry, searchset
from fhir_server.search.sorting import sort_candidates


def search(
    engine: SearchEngine,
    ctx: RequestContext,
    resource_type: str,
    pairs: Sequence[tuple[str, str]],
    *,
    default_count: int,
    max_count: int,
    visible: Visible = everything_visible,
) -> FhirResult:
    require_type(resource_type)
    request = parse_search(
        resource_type,
        pairs,
        strict=ctx.prefer.strict,
        default_count=default_count,
        max_count=max_count,
        max_or_values=engine.limits.max_or_values,
        max_parameters=engine.limits.max_parameters,
    )
    token = paging.decode(request.page, request.sort_signature) if request.page else None
    matches = engine.candidates(resource_type, engine.clauses(request.criteria))
    ranked = sort_candidates(matches, request.sort)
    count = 0 if request.summary == "count" else request.count
    page = paging.paginate(ranked, request.sort, count, token)
    entries = [
        entry(ctx, reduce(v.resource, request.summary, request.elements), "match")
        for v in engine.load(resource_type, page.entries)
        if v.resource is not None and visible(resource_type, v.resource)
    ]
    entries += _included_entries(engine, ctx, request, page.entries, visible)
    total = None if request.total == "none" and request.summary != "count" else len(matches)
    bundle = searchset(ctx, resource_type, page_links(request, page), entries, total)
    return FhirResult(resource=bundle)


def _included_entries(
    engine: SearchEngine,
    ctx: RequestContext,
    request: SearchRequest,
    matches: list[Candidate],
    visible: Visible,
) -> list[dict[str, Any]]:
    if not request.includes:
        return []
    limit = engine.limits.max_include
    included = resolve_includes(
        engine, [(request.resource_type, c) for c in matches], request.includes, limit
    )
    entries = [
        entry(ctx, resource, "include")
        for resource in _load_all(engine, included.resources)
        if visible(resource["resourceType"], resource)
    ]
    if included.truncated:
        entries.append(
            outcome_entry(
                [
                    Issue(
                        "warning",
                        "incomplete",
                        f"Only {limit} included resources are returned per page (FHIR_MAX_INCLUDE); more "
                        "matched the _include/_revinclude parameters. Use a smaller _count or narrower "
                        "includes to get them all.",
                        ("_include",),
                    )
                ]
            )
        )
    return entries


def _load_all(engine: SearchEngine, typed: Sequence[Typed]) -> list[dict[str, Any]]:
    by_type: dict[str, list[Candidate]] = defaultdict(list)
    for resource_type, candidate in typed:
        by_type[resource_type].append(candidate)
    resources: list[dict[str, Any]] = []
    for resource_type, candidates in by_type.items():
        resources += [v.resource for v in engine.load(resource_type, candidates) if v.resource is not None]
    return resources
