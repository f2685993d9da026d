"""What every interaction needs to know about the request, parsed once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from fastapi import Request

from fhir_server.api.negotiation import check_response_format
from fhir_server.auth.server_base import fhir_base
from fhir_server.errors import FhirError, Problem

ReturnPreference = Literal["minimal", "representation", "OperationOutcome"]
_RETURN_PREFERENCES: tuple[ReturnPreference, ...] = ("minimal", "representation", "OperationOutcome")


@dataclass(frozen=True)
class Prefer:
    """The `Prefer` header (https://hl7.org/fhir/R4/http.html#ops)."""

    return_: ReturnPreference = "representation"
    strict: bool = False
    respond_async: bool = False

    @classmethod
    def parse(cls, header: str | None) -> Prefer:
        if not header:
            return cls()
        return_: ReturnPreference = "representation"
        strict = False
        for token in header.split(","):
            for part in token.split(";"):
                name, _, value = part.strip().partition("=")
                name, value = name.strip().lower(), value.strip().strip('"')
                if name == "return":
                    if value not in _RETURN_PREFERENCES:
                        raise FhirError(
                            Problem.INVALID,
                            f"Prefer return={value!r} is not one of: minimal, representation, "
                            "OperationOutcome",
                        )
                    return_ = value
                elif name == "handling":
                    strict = value == "strict"
        return cls(return_=return_, strict=strict)


@dataclass(frozen=True)
class RequestContext:
    base_url: str
    prefer: Prefer = field(default_factory=Prefer)
    pretty: bool = False

    def url(self, *parts: str) -> str:
        return "/".join([self.base_url, *parts])


def build_context(request: Request) -> RequestContext:
    """`base_url` is FHIR_PUBLIC_BASE_URL, else the bind address: never the request's Host header, which
    would otherwise end up in every fullUrl, link and Location we write."""
    query = request.query_params
    check_response_format(query, request.headers.get("accept"))
    return RequestContext(
        base_url=fhir_base(request.app.state.services.settings),
        prefer=Prefer.parse(request.headers.get("prefer")),
        pretty=query.get("_pretty", "").lower() == "true",
    )
