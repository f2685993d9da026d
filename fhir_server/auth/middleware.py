"""Authentication of every /fhir and /dicomweb request (RFC 6750, App Launch 2.2 §access-denied-…):
a Bearer JWT signed with our keys, not expired, for this FHIR base, not revoked. The verified
`AccessContext` goes on `request.state.access`; what it may do is decided per resource later.

Without a token (or with a bad one) the answer is 401 with `WWW-Authenticate: Bearer realm=…,
error="invalid_token"` and an OperationOutcome. The CapabilityStatement and the SMART discovery document
stay public, as the spec requires. In development mode a request without a token gets full anonymous
access; a request with a token is still checked (so scopes can be tried out).
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from fhir_server.api.responses import FhirJSONResponse
from fhir_server.auth.components import AuthComponents
from fhir_server.auth.enforcement import STATE_KEY
from fhir_server.auth.policy import anonymous_development
from fhir_server.auth.tokens import InvalidToken
from fhir_server.auth.urls import Urls
from fhir_server.errors import FhirError, Problem

PROTECTED_PREFIXES = ("/fhir", "/dicomweb")
PUBLIC_PATHS = frozenset(
    {"/fhir/metadata", "/fhir/.well-known/smart-configuration", "/fhir/.well-known/openid-configuration"}
)


def is_protected(path: str) -> bool:
    if path in PUBLIC_PATHS or path.rstrip("/") in PUBLIC_PATHS:
        return False
    return any(path == p or path.startswith(p + "/") for p in PROTECTED_PREFIXES)


class BearerAuthentication:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS" or not is_protected(scope["path"]):
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        auth: AuthComponents = scope["app"].state.auth
        urls = Urls.for_request(connection, auth.settings)
        scheme, _, token = connection.headers.get("authorization", "").partition(" ")
        token = token.strip()
        try:
            if not scheme and auth.development:
                access = anonymous_development(urls.fhir_base)
            elif scheme.lower() != "bearer" or not token:
                raise InvalidToken("A Bearer access token is required (Authorization: Bearer <token>)")
            else:
                access = await run_in_threadpool(auth.verifier.verify, token, urls)
        except InvalidToken as exc:
            await _unauthorized(urls, str(exc))(scope, receive, send)
            return
        scope.setdefault("state", {})[STATE_KEY] = access
        await self.app(scope, receive, send)


def _unauthorized(urls: Urls, reason: str) -> FhirJSONResponse:
    realm = urls.fhir_base.replace('"', "")  # the base may come from the Host header
    challenge = f'Bearer realm="{realm}", error="invalid_token", error_description="{reason}"'
    error = FhirError(Problem.UNAUTHORIZED, reason, headers={"WWW-Authenticate": challenge})
    return FhirJSONResponse(error.outcome(), error.status, dict(error.headers))
