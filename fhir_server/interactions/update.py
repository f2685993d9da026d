"""update: PUT [base]/[type]/[id] (https://hl7.org/fhir/R4/http.html#update).

Update-as-create with a client-chosen id (201); `If-Match` makes it an optimistic-locking update
(412 on a stale version, https://hl7.org/fhir/R4/http.html#concurrency). Without If-Match a lost race
against a concurrent writer is retried on the new current version, so the last writer wins cleanly.
"""

from __future__ import annotations

from starlette.responses import Response

from fhir_server.api.context import RequestContext
from fhir_server.api.responses import resource_response
from fhir_server.errors import FhirError, Problem
from fhir_server.interactions.common import WriteRules, check_target, conflict, parse_version_etag
from fhir_server.storage.repository import Repository, VersionConflict
from fhir_server.validation import parse_resource

CAPABILITY = "update"
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
) -> Response:
    check_target(resource_type, resource_id)
    data = parse_resource(body, resource_type)
    if "id" not in data:
        raise FhirError(Problem.REQUIRED, "The resource in an update must carry its id", [f"{resource_type}.id"])
    if data["id"] != resource_id:
        raise FhirError(
            Problem.INVALID,
            f"The id in the body ({str(data['id'])[:64]!r}) differs from the id in the URL ({resource_id!r})",
            [f"{resource_type}.id"],
        )
    resource, warnings = rules.validate(data)
    expected = parse_version_etag(if_match) if if_match else None
    for _ in range(_RETRIES):
        try:
            version, created = repository.update(resource, expected_version=expected)
            break
        except VersionConflict as exc:
            if expected is not None:
                raise conflict(resource_type, resource_id, expected, exc.current_version) from None
    else:
        raise FhirError(Problem.CONFLICT, f"{resource_type}/{resource_id} is being changed by others; retry")
    return resource_response(
        ctx,
        version,
        status=201 if created else 200,
        location=created,
        outcome_message=f"{'Created' if created else 'Updated'} {version.reference} version {version.version}",
        warnings=warnings,
    )
