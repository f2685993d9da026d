"""Building FHIR JSON responses: body serialization, ETag/Last-Modified/Location, Prefer return=…"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from email.utils import format_datetime
from typing import Any

import orjson
from starlette.responses import Response

from fhir_server.api.context import RequestContext
from fhir_server.api.negotiation import FHIR_JSON
from fhir_server.errors import Issue, information_outcome, operation_outcome
from fhir_server.storage.repository import ResourceVersion

MEDIA_TYPE = f"{FHIR_JSON}; charset=utf-8"


class FhirJSONResponse(Response):
    media_type = MEDIA_TYPE

    def __init__(
        self,
        content: Any,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        pretty: bool = False,
    ) -> None:
        self._pretty = pretty
        super().__init__(content, status_code, headers)

    def render(self, content: Any) -> bytes:
        if content is None:
            return b""
        return orjson.dumps(content, option=orjson.OPT_INDENT_2 if self._pretty else 0)


def version_headers(version: ResourceVersion) -> dict[str, str]:
    return {"ETag": version.etag, "Last-Modified": format_datetime(version.last_updated, usegmt=True)}


def resource_response(
    ctx: RequestContext,
    version: ResourceVersion,
    *,
    status: int = 200,
    location: bool = False,
    outcome_message: str | None = None,
    warnings: Sequence[Issue] = (),
) -> Response:
    """A write or read result, honouring `Prefer: return=`."""
    headers = version_headers(version)
    if location:
        headers["Location"] = ctx.url(version.resource_type, version.id, "_history", str(version.version))
    preference = ctx.prefer.return_
    if preference == "minimal":
        return Response(status_code=status, headers=headers)
    if preference == "OperationOutcome":
        message = outcome_message or f"{version.reference} version {version.version}"
        body = operation_outcome([Issue("information", "informational", message), *warnings])
        return FhirJSONResponse(body, status, headers, ctx.pretty)
    return FhirJSONResponse(version.resource, status, headers, ctx.pretty)


def outcome_response(ctx: RequestContext, message: str, status: int = 200) -> Response:
    if ctx.prefer.return_ == "minimal":
        return Response(status_code=204 if status == 200 else status)
    return FhirJSONResponse(information_outcome(message), status, pretty=ctx.pretty)
