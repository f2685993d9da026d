"""Conditional create, update and delete (https://hl7.org/fhir/R4/http.html#ccreate, #cond-update,
#3.1.0.7.1 conditional delete).

The criteria are a search on the type (strict: an unknown parameter is a 400, since ignoring it would widen
the match) and must name at least one parameter. Each write holds the criteria lock
(`fhir_server.search.locks`) while it searches and writes, so two concurrent conditional creates of the
same identifier create one resource.

- create (`If-None-Exist`): no match creates (201); one match returns it unchanged (200); more are 412.
- update (`PUT [type]?criteria`): no match creates (with the body's id as update-as-create, unless that id
  exists and does not match: 409); one match is updated (a body id must be that id, else 400); more are 412.
- delete (`DELETE [type]?criteria`): "multiple": deletes every match, up to FHIR_MAX_CONDITIONAL_DELETE
  (more are 412 and nothing is deleted); no match answers 200 with an OperationOutcome saying so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from urllib.parse import parse_qsl, urlencode

from fhir_server.core.context import RequestContext
from fhir_server.core.result import FhirResult, outcome_result, resource_result
from fhir_server.errors import FhirError, Problem
from fhir_server.interactions import create, update
from fhir_server.interactions.common import WriteRules
from fhir_server.search.access import SERVER_WIDE
from fhir_server.search.conditions import Candidate
from fhir_server.search.engine import SearchEngine, SearchLimits
from fhir_server.search.locks import CriteriaLock
from fhir_server.search.matching import matches, matching_ids, parse_criteria
from fhir_server.search.request import FORMAT_PARAMETERS
from fhir_server.storage.repository import Repository, SearchBackend, VersionConflict
from fhir_server.validation import parse_resource

DELETE_CAPABILITY = "multiple"


# The server's own lookups (sync, hospital registration): (repository, type, query) -> ids.
FindIds = Callable[[SearchBackend, str, str], list[str]]


def find_ids(repository: SearchBackend, resource_type: str, query_string: str) -> list[str]:
    """Ids of live resources matching `Type?query_string`, seen by the server itself (the sync's and the
    import's lookups; requests use their secured store's `find_ids`)."""
    return matching_ids(
        SearchEngine(repository, SearchLimits(), (), SERVER_WIDE), resource_type, query_string
    )


def create_criteria(if_none_exist: str | None, query: Iterable[tuple[str, str]]) -> str | None:
    """The criteria of a conditional create: the If-None-Exist header, or the create's own query string
    (`POST Patient?identifier=…`, as fhirpy sends it), which means the same. A query is never ignored:
    parameters the search does not know are 400s when the criteria are parsed (strict), and a query that
    differs from If-None-Exist is a 400 here."""
    pairs = [(k, v) for k, v in query if k not in FORMAT_PARAMETERS]  # never criteria
    if not pairs:
        return if_none_exist
    for name, value in pairs:
        if value == "":  # a search ignores an empty parameter; a condition that ignored it would match more
            raise FhirError(Problem.INVALID, f"The create's query parameter {name!r} has no value", [name])
    from_query = urlencode(pairs)
    if if_none_exist is not None and sorted(
        parse_qsl(if_none_exist.partition("?")[2] or if_none_exist)
    ) != sorted(pairs):
        raise FhirError(
            Problem.INVALID,
            "A create's query string and If-None-Exist are both conditions and differ; send one of them",
            [pairs[0][0]],
        )
    return from_query


def create_if_none_exist(
    engine: SearchEngine,
    locks: CriteriaLock,
    repository: Repository,
    ctx: RequestContext,
    rules: WriteRules,
    resource_type: str,
    body: bytes,
    if_none_exist: str,
) -> FhirResult:
    resource, warnings = create.new_resource(rules, resource_type, body)
    criteria = parse_criteria(resource_type, if_none_exist, "If-None-Exist")
    with locks.hold(resource_type, criteria):
        found = matches(engine, resource_type, criteria)
        if not found:
            return create.created(ctx, repository.create(resource), warnings)
    if len(found) > 1:
        raise _ambiguous(resource_type, found, "If-None-Exist")
    (version,) = engine.load(resource_type, found)
    return resource_result(
        ctx, version, location=True, outcome_message=f"{version.reference} already matches If-None-Exist"
    )


def conditional_update(
    engine: SearchEngine,
    locks: CriteriaLock,
    repository: Repository,
    ctx: RequestContext,
    rules: WriteRules,
    resource_type: str,
    query: str,
    body: bytes,
    *,
    if_match: str | None = None,
) -> FhirResult:
    criteria = parse_criteria(resource_type, query, "criteria")
    data = parse_resource(body, resource_type)
    body_id = data.get("id")
    with locks.hold(resource_type, criteria):
        found = matches(engine, resource_type, criteria)
        if len(found) > 1:
            raise _ambiguous(resource_type, found, "criteria")
        if found:
            if body_id is not None and body_id != found[0].id:
                raise FhirError(
                    Problem.INVALID,
                    f"The body's id {str(body_id)[:64]!r} is not the id of the matching resource "
                    f"({resource_type}/{found[0].id})",
                    [f"{resource_type}.id"],
                )
            resource, warnings = rules.validate({**data, "id": found[0].id})
            return update.store(repository, ctx, resource, warnings, if_match=if_match)
        if body_id is None:
            resource, warnings = create.new_resource(rules, resource_type, body)
            return create.created(ctx, repository.create(resource), warnings)
        resource, warnings = rules.validate(data)
        existing = repository.read(resource_type, resource["id"])
        if existing is not None and not existing.deleted:
            raise FhirError(
                Problem.CONFLICT,
                f"{resource_type}/{resource['id']} exists but does not match the criteria; "
                "update it by id or change the criteria",
            )
        return update.store(repository, ctx, resource, warnings, if_match=if_match)


def conditional_delete(
    engine: SearchEngine,
    repository: Repository,
    ctx: RequestContext,
    resource_type: str,
    query: str,
    *,
    max_matches: int,
) -> FhirResult:
    criteria = parse_criteria(resource_type, query, "criteria")
    found = matches(engine, resource_type, criteria)
    if len(found) > max_matches:
        raise FhirError(
            Problem.PRECONDITION_FAILED,
            f"{len(found)} {resource_type} resources match; conditional delete removes at most {max_matches} "
            "(FHIR_MAX_CONDITIONAL_DELETE). Nothing was deleted; use narrower criteria.",
        )
    if not found:
        return outcome_result(ctx, f"No {resource_type} matches the criteria; nothing was deleted")
    deleted = 0
    for candidate in found:
        try:
            if repository.delete(resource_type, candidate.id) is not None:
                deleted += 1
        except VersionConflict:
            continue  # deleted or changed concurrently; the other writer's result stands
    ids = ", ".join(f"{resource_type}/{c.id}" for c in found[:10])
    more = f" and {len(found) - 10} more" if len(found) > 10 else ""
    return outcome_result(ctx, f"Deleted {deleted} {resource_type} resource(s): {ids}{more}")


def _ambiguous(resource_type: str, found: Sequence[Candidate], expression: str) -> FhirError:
    return FhirError(
        Problem.PRECONDITION_FAILED,
        f"{len(found)} {resource_type} resources match the {expression} criteria; at most one may match",
        [expression],
    )
