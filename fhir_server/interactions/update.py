"""update: PUT [base]/[type]/[id] (https://hl7.org/fhir/R4/http.html#update).

Update-as-create with a client-chosen id (201); `If-Match` makes it an optimistic-locking update
(412 on a stale version, https://hl7.org/fhir/R4/http.html#concurrency). Without If-Match a lost race
against a concurrent writer is retried on the new current version, so the last writer wins cleanly.
Conditional update (`PUT [type]?criteria`) is in `fhir_server.interactions.conditional` and uses `store`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence

from fhir_server.core.context import RequestContext
from fhir_server.core.result import FhirResult, resource_result
from fhir_server.errors import FhirError, Issue, Problem
from fhir_server.interactions.common import WriteRules, check_target, conflict, parse_version_etag
from fhir_server.storage.repository import Repository, VersionConflict
from fhir_server.type_aliases import JsonObject
from fhir_server.validation import parse_resource

_RETRIES = 5


def update(
    repository: Repository,
    ctx: RequestContext,
    rules: WriteRules,
    resource_type: str,
    resource_id: str,
    body: bytes,
    *,
    if_match: str | None = None,
) -> FhirResult:
    check_target(resource_type, resource_id)
    data = parse_resource(body, resource_type)
    if "id" not in data:
        raise FhirError(
            Problem.REQUIRED, "The resource in an update must carry its id", [f"{resource_type}.id"]
        )
    if data["id"] != resource_id:
        raise FhirError(
            Problem.INVALID,
            f"The id in the body ({str(data['id'])[:64]!r}) differs from the id in the URL ({resource_id!r})",
            [f"{resource_type}.id"],
        )
    resource, warnings = rules.validate(data)
    return store(repository, ctx, resource, warnings, if_match=if_match)


def store(
    repository: Repository,
    ctx: RequestContext,
    resource: JsonObject,
    warnings: Sequence[Issue],
    *,
    if_match: str | None = None,
) -> FhirResult:
    """Write a validated resource (carrying its id) as a new version; shared with conditional update."""
    resource_type, resource_id = resource["resourceType"], resource["id"]
    expected = parse_version_etag(if_match) if if_match else None
    for attempt in range(_RETRIES):
        try:
            version, created = repository.update(resource, expected_version=expected)
            break
        except VersionConflict as exc:
            if expected is not None:
                raise conflict(resource_type, resource_id, expected, exc.current_version) from None
            # Back off before re-reading: an immediate retry meets the same in-flight writer again.
            time.sleep(random.uniform(0, 0.01 * 2**attempt))
    else:
        raise FhirError(Problem.CONFLICT, f"{resource_type}/{resource_id} is being changed by others; retry")
    verb = "Created" if created else "Updated"
    return resource_result(
        ctx,
        version,
        status=201 if created else 200,
        location=created,
        outcome_message=f"{verb} {version.reference} version {version.version}",
        warnings=warnings,
    )
