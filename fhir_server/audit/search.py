"""`GET [base]/AuditEvent?…` for admins: FHIR search (https://hl7.org/fhir/R4/search.html) over the audit
log, through the same parser, compiler and engine as every other search.

The parameters are R4's AuditEvent SearchParameters (`fhir_server/search/data`, AuditEvent is a standalone
type there): `date` (recorded), `altid` (the subject of the token that acted), `agent`
(`agent:identifier=alice` for a user or client, `agent=Practitioner/1` for a fhirUser), `entity`,
`patient`, `type` (110114 token, 110113 denied, rest), `subtype` (read, create, search-type, …),
`outcome`, `action`, `address`, and `_id`/`_lastUpdated`; prefixes and modifiers
as for any search, `_count` and keyset `_page` links, `_sort` (newest first by default).

The audit log grows by one event per access, so a search without criteria in the default order (`_sort=-date`,
the trail an admin opens first) does not read every event: it reads the `recorded` index in time slices
back from now (or from the page's `_page` position), each slice a range of the index and the next one wider,
until a page and one more entry are found; the engine's ranking and keyset paging then run on those
candidates, so its pages and links are those of the general path. Its `total` is given only when asked for
(`_total=accurate`, or `_summary=count`): counting is a read of the whole log.

Differences from a search of the FHIR repository, each on purpose:
- unknown parameters are always a 400 (as if `Prefer: handling=strict`): a typo must not widen what an
  auditor believes is a narrow answer;
- as for every standalone type (`fhir_server.search.standalone`): no chains, `_include` or `_revinclude`
  (patient data an include would show must come through the secured store, audited), `_summary` only as
  `count`, no `_elements`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fhir_server.audit.log import RESOURCE_TYPE, AuditLog
from fhir_server.core.context import RequestContext
from fhir_server.search import paging
from fhir_server.search.access import AccessFilter, Letter
from fhir_server.search.conditions import Candidate, Clause
from fhir_server.search.engine import SearchEngine, SearchLimits
from fhir_server.search.page_links import page_links
from fhir_server.search.request import SearchRequest, parse_search
from fhir_server.search.searchset import entry, searchset
from fhir_server.search.sorting import Position, order_key, position, sort_candidates
from fhir_server.search.standalone import refuse_unsupported
from fhir_server.storage.repository import ResourceVersion

# Newest first, as an audit trail is read; a `_sort` of the caller's own replaces it.
_DEFAULT_SORT = ("_sort", "-date")
# Time slices of the newest-first read: the first spans this, each next one `_GROWTH` times the one before,
# and the slice that would reach before `_FLOOR` reads everything older instead (the log has a beginning:
# from 2026 that is about a dozen slices).
_FIRST_SLICE = timedelta(minutes=1)
_GROWTH = 4
_FLOOR = datetime(2000, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


class _AdminsOnly:
    """The access filter of the audit search: everything for an administrator, nothing otherwise. The route
    refuses others first; this keeps the rule inside every query too."""

    def __init__(self, is_admin: bool) -> None:
        self._is_admin = is_admin

    def clause(self, resource_type: str, letter: Letter) -> Clause | None:
        return None if self._is_admin else Clause("(access)", [], 0.0, empty=True)


@dataclass(frozen=True)
class SearchResult:
    page: paging.Page
    versions: list[ResourceVersion]  # the page's events, in its order
    total: int | None


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
    total_asked = any(key == "_total" for key, _ in pairs)
    result = run_search(
        audit, request, is_admin=is_admin, limits=limits, own_bases=own_bases, total_asked=total_asked
    )
    entries = [entry(ctx, v.resource, "match") for v in result.versions if v.resource is not None]
    return searchset(ctx, RESOURCE_TYPE, page_links(request, result.page), entries, result.total)


def run_search(
    audit: AuditLog,
    request: SearchRequest,
    *,
    is_admin: bool,
    limits: SearchLimits,
    own_bases: Sequence[str],
    total_asked: bool = False,
) -> SearchResult:
    """One page of a parsed AuditEvent search. `total_asked`: the caller named `_total` (a search without
    criteria counts only then)."""
    refuse_unsupported(request)
    access: AccessFilter = _AdminsOnly(is_admin)
    engine = SearchEngine(audit.versions, limits, own_bases, access)
    token = paging.decode(request.page, request.sort_signature) if request.page else None
    count = 0 if request.summary == "count" else request.count
    clauses = engine.clauses(request.criteria)
    if is_admin and not clauses and _newest_first(request, token):
        page = _newest_first_page(audit, request, token, count)
        counted = request.summary == "count" or (total_asked and request.total == "accurate")
        total = audit.count() if counted else None
    else:
        matches = engine.candidates(RESOURCE_TYPE, clauses)
        page = paging.paginate(sort_candidates(matches, request.sort), request.sort, count, token)
        total = None if request.total == "none" and request.summary != "count" else len(matches)
    return SearchResult(page, engine.load(RESOURCE_TYPE, page.entries), total)


def _newest_first(request: SearchRequest, token: paging.PageToken | None) -> bool:
    """The order the `recorded` index gives: `-date` alone, from a position that has a date."""
    if [key.text for key in request.sort] != ["-date"]:
        return False
    return token is None or (token.position[0][0][0] == 0 and _instant(token.position[0][0][1]) is not None)


def _newest_first_page(
    audit: AuditLog, request: SearchRequest, token: paging.PageToken | None, count: int
) -> paging.Page:
    """The page `paging.paginate` gives over every event, from the events of the slices around the page
    only. Slices are whole ranges of `ts` (the recorded instant, which is the `-date` sort value), so the
    events read are a contiguous run of the sorted log: enough for the page, one entry more (whether a next
    or previous page exists) and the token's own position."""
    if count == 0:
        return paging.Page([], None, None)
    sort = request.sort
    if token is None:
        slices, beyond = _older(audit, None), None
    else:
        at = _instant(token.position[0][0][1])
        assert at is not None  # checked by _newest_first
        beyond = order_key(token.position, sort)
        slices = _older(audit, at + _MS) if token.direction == "after" else _newer(audit, at)
    window: list[tuple[Position, Candidate]] = []
    wanted = 0
    for docs in slices:
        for doc in docs:
            candidate = Candidate.from_doc(doc)
            pos = position(candidate, sort)
            window.append((pos, candidate))
            key = order_key(pos, sort)
            if beyond is None or (key > beyond if token and token.direction == "after" else key < beyond):
                wanted += 1
        if wanted > count:
            break
    window.sort(key=lambda item: order_key(item[0], sort))
    return paging.paginate(window, sort, count, token)


def _older(audit: AuditLog, until: datetime | None) -> Iterator[list[dict[str, Any]]]:
    """The events before `until` (all: None) in slices, newest slice first."""
    high = until
    width = _FIRST_SLICE
    low = (until or datetime.now(UTC)) - width
    while low > _FLOOR:
        yield audit.recorded_between(low, high)
        high, width = low, width * _GROWTH
        low = high - width
    yield audit.recorded_between(None, high)


def _newer(audit: AuditLog, since: datetime) -> Iterator[list[dict[str, Any]]]:
    """The events at or after `since` in slices, oldest slice first."""
    width = _FIRST_SLICE
    low = since
    high = low + width
    while high < datetime.now(UTC):
        yield audit.recorded_between(low, high)
        low, width = high, width * _GROWTH
        high = low + width
    yield audit.recorded_between(low, None)


def _instant(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo is not None else None
