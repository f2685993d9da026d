"""read: GET [base]/[type]/[id] (https://hl7.org/fhir/R4/http.html#read).

404 for an id that never existed, 410 Gone for a deleted one. Supports `If-None-Match` and
`If-Modified-Since` for cheap revalidation (304, https://hl7.org/fhir/R4/http.html#cread).
"""

from __future__ import annotations

from email.utils import parsedate_to_datetime

from fhir_server.core.context import RequestContext
from fhir_server.core.result import FhirResult, version_result
from fhir_server.interactions.common import existing_version, parse_version_etag
from fhir_server.storage.repository import Repository


def read(
    repository: Repository,
    ctx: RequestContext,
    resource_type: str,
    resource_id: str,
    *,
    if_none_match: str | None = None,
    if_modified_since: str | None = None,
) -> FhirResult:
    version = existing_version(repository, resource_type, resource_id)
    if if_none_match and (if_none_match.strip() == "*" or _same_version(if_none_match, version.version)):
        return version_result(version, 304, body=False)
    if if_modified_since and not if_none_match:
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            since = None
        if (
            since is not None
            and since.tzinfo is not None
            and version.last_updated.replace(microsecond=0) <= since
        ):
            return version_result(version, 304, body=False)
    return version_result(version)


def _same_version(header: str, version: int) -> bool:
    return any(parse_version_etag(tag, "If-None-Match") == version for tag in header.split(","))
