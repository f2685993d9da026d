"""What every interaction needs to know about the request besides its target: base URL, Prefer, _pretty."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

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
