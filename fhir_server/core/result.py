"""`FhirResult`: what a handler answers, before it is HTTP (fhir_server.rest.http_adapter) or a Bundle entry
(fhir_server.interactions.bundle). Builders for the shapes interactions share: a resource version honouring
`Prefer: return=` (https://hl7.org/fhir/R4/http.html#ops), and an informational OperationOutcome."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fhir_server.core.context import RequestContext
from fhir_server.errors import Issue, operation_outcome
from fhir_server.storage.repository import ResourceVersion


@dataclass
class FhirResult:
    """`resource` is the body (a resource, Bundle, Parameters or OperationOutcome); without one, `issues`
    become an OperationOutcome body, and with neither there is no body at all (304, `Prefer: return=minimal`).
    `last_modified` is kept as an instant: HTTP renders it as an HTTP date, a Bundle entry as a FHIR
    instant."""

    status: int = 200
    resource: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    last_modified: datetime | None = None
    issues: Sequence[Issue] = ()
    # `resource` as compact JSON bytes (a stored version's, `ResourceVersion.json`): sent as they are. Valid
    # only while `resource` is still the object they were made from (see `serialized_body`).
    _serialized: tuple[object, bytes] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def body(self) -> dict[str, Any] | None:
        if self.resource is not None:
            return self.resource
        if self.issues:
            return operation_outcome(list(self.issues))
        return None

    def show(self, version: ResourceVersion) -> None:
        """Make a stored version the body, with its serialized JSON when the store has it."""
        self.resource = version.resource
        self._serialized = (version.resource, version.json) if version.json is not None else None

    @property
    def serialized_body(self) -> bytes | None:
        """The body as compact JSON bytes, if known without serializing: None when the body was replaced."""
        if self._serialized is None or self.resource is None or self._serialized[0] is not self.resource:
            return None
        return self._serialized[1]


def version_result(version: ResourceVersion, status: int = 200, body: bool = True) -> FhirResult:
    """A stored version as it is (read, vread): with its ETag and Last-Modified."""
    result = FhirResult(status, None, {"ETag": version.etag}, last_modified=version.last_updated)
    if body:
        result.show(version)
    return result


def resource_result(
    ctx: RequestContext,
    version: ResourceVersion,
    *,
    status: int = 200,
    location: bool = False,
    outcome_message: str | None = None,
    warnings: Sequence[Issue] = (),
) -> FhirResult:
    """A write or read result, honouring `Prefer: return=`."""
    result = version_result(version, status, body=False)
    if location:
        result.headers["Location"] = ctx.url(
            version.resource_type, version.id, "_history", str(version.version)
        )
    preference = ctx.prefer.return_
    if preference == "OperationOutcome":
        message = outcome_message or f"{version.reference} version {version.version}"
        result.issues = [Issue("information", "informational", message), *warnings]
    elif preference == "representation":
        result.show(version)
    return result


def outcome_result(ctx: RequestContext, message: str, status: int = 200) -> FhirResult:
    if ctx.prefer.return_ == "minimal":
        return FhirResult(204 if status == 200 else status)
    return FhirResult(status, issues=[Issue("information", "informational", message)])
