"""Where things are: the FHIR base a token is for, and the authorization server next to it.

The OAuth endpoints live under `/auth`, a sibling of `/fhir`: with FHIR_PUBLIC_BASE_URL
`https://h.example/fhir` they are `https://h.example/auth/…`. Without it both are on the address the server
is bound to (fhir_server.security.server_base) — never on the request's Host header, which the client chooses:
these URLs decide which token audiences and issuers are accepted.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection

from fhir_server.security.server_base import fhir_base
from fhir_server.settings import Settings

AUTH_PREFIX = "/auth"


@dataclass(frozen=True)
class Urls:
    fhir_base: str  # no trailing slash
    auth_base: str

    @classmethod
    def for_base(cls, fhir_base: str) -> Urls:
        fhir_base = fhir_base.rstrip("/")
        return cls(fhir_base, fhir_base.rsplit("/", 1)[0] + AUTH_PREFIX)

    @classmethod
    def for_settings(cls, settings: Settings) -> Urls:
        return cls.for_base(fhir_base(settings))

    @classmethod
    def for_request(cls, request: HTTPConnection, settings: Settings) -> Urls:
        """The same for every request: nothing about the request (Host, scheme, forwarded headers) is
        used, so a forged Host can neither widen the accepted audiences nor appear in a URL we write."""
        return cls.for_settings(settings)

    @property
    def issuer(self) -> str:
        return self.auth_base

    @property
    def authorize(self) -> str:
        return self.auth_base + "/authorize"

    @property
    def token(self) -> str:
        return self.auth_base + "/token"

    @property
    def introspect(self) -> str:
        return self.auth_base + "/introspect"

    @property
    def revoke(self) -> str:
        return self.auth_base + "/revoke"

    @property
    def jwks(self) -> str:
        return self.auth_base + "/jwks"

    @property
    def admin(self) -> str:
        return self.auth_base + "/admin"

    def is_fhir_base(self, audience: object) -> bool:
        return isinstance(audience, str) and audience.rstrip("/") == self.fhir_base
