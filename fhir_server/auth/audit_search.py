"""`GET [base]/AuditEvent?…` for admins: FHIR search (https://hl7.org/fhir/R4/search.html) over the audit
log, through the same parser, compiler and engine as every other search.

The parameters are R4's AuditEvent SearchParameters (`fhir_server/search/data`, AuditEvent is a standalone
type there): `date` (recorded), `altid` (the subject of the token that acted), `agent`
(`agent:identifier=alice` for a user or client, `agent=Practitioner/1` for a fhirUser), `entity`,
`patient`, `type` (110114 token, 110113 denied, rest), `subtype` (read, create, search-type, …),
`outcome`, `action`, `address`, and `_id`/`_lastUpdated`; prefixes and modifiers
as for any search, `_count` and keyset `_page` links, `_sort` (newest first by default).

Differences from a search of the FHIR repository, each on purpose:
- unknown parameters are always a 400 (as if `Prefer: handling=strict`): a typo must not widen what an
  auditor believes is a narrow answer;
- as for every standalone type (`fhir_server.search.standalone`): no chains, `_include` or `_revinclude`
  (patient data an include would show must come through the secured store, audited), `_summary` only as
  `count`, no `_elements`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fhir_server.api.context import RequestContext
from fhir_server.auth.audit import RESOURCE_TYPE, AuditLog
from fhir_server.search import paging
from fhir_server.search.access import AccessFilter, Letter
from fhir_server.search.bundle import entry, searchset
from fhir_server.search.conditions import Clause
from fhir_server.search.engine import SearchEngine, SearchLimits
from fhir_server.search.page_links import page_links
from fhir_server.search.request import parse_search
from fhir_server.search.sorting import sort_candidates
from fhir_server.search.standalone import refuse_unsupported

# Newest first, as an audit trail is read; a `_sort` of the caller's own replaces it.
_DEFAULT_SORT = ("_sort", "-date")


class _AdminsOnly:
    """The access filter of the audit search: everything for an administrator, nothing otherwise. The route
    refuses others first; this keeps the rule inside every query too."""

    def __init__(self, is_admin: bool) -> None:
        self._is_admin = is_admin

    def clause(self, resource_type: str, letter: Letter) -> Clause | None:
        return None if self._is_admin else Clause("(access)", [], 0.0, empty=True)


def search_bundle(
    audit: AuditLog,
    ctx: RequestContext,
    pairs: Sequence[tuple[str, str]],
    *,
    is_admin: bool,
    limits: SearchLimits,
    own_bases: Sequence[str],
    default_count: int,
    max_count: int,
) -> dict[str, Any]:
    access: AccessFilter = _AdminsOnly(is_admin)
    engine = SearchEngine(audit.versions, limits, own_bases, access)
    if not any(key.split(":", 1)[0] == "_sort" for key, _ in pairs):
        pairs = [*pairs, _DEFAULT_SORT]
    request = parse_search(
        RESOURCE_TYPE,
        pairs,
        strict=True,
        default_count=default_count,
        max_count=max_count,
        max_or_values=limits.max_or_values,
        max_parameters=limits.max_parameters,
    )
    refuse_unsupported(request)
    token = paging.decode(request.page, request.sort_signature) if request.page else None
    matches = engine.candidates(RESOURCE_TYPE, engine.clauses(request.criteria))
    ranked = sort_candidates(matches, request.sort)
    count = 0 if request.summary == "count" else request.count
    page = paging.paginate(ranked, request.sort, count, token)
    entries = [
        entry(ctx, v.resource, "match")
        for v in engine.load(RESOURCE_TYPE, page.entries)
        if v.resource is not None
    ]
    total = None if request.total == "none" and request.summary != "count" else len(matches)
    return searchset(ctx, RESOURCE_TYPE, page_links(request, page), entries, total)
