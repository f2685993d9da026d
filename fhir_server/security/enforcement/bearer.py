"""The one bearer check of the server (RFC 6750, App Launch 2.2 §access-denied-response-handling): every
request to a protected route must carry a Bearer JWT signed with our keys, not expired, for this FHIR base
(FHIR_PUBLIC_BASE_URL or the bind address, never the Host header), not revoked (a token verified before is
answered from the worker's verified-token cache, kept exact by a watcher: oauth/token_cache.py). The verified
`AccessContext` goes on `request.state.access`, where `fhir_server.security.access.store.secured` and
`access_of` find it; what it may do is decided later, per resource. No route verifies a token itself.

Which routes are protected is data: `RULES` below. The most specific rule for a request's path (and method)
decides; a path no rule covers is protected (default deny).
tests/fhir_server/security/smart/test_route_protection.py
walks the application's routes and fails for a route that no rule names, so a new route gets classified
when it is added, not when someone notices it is open.

Without a token (or with a bad one) the answer is 401 with `WWW-Authenticate: Bearer realm=…,
error="invalid_token"` and an OperationOutcome. In development mode a request without a token gets full
anonymous access, except on `ADMIN_TOKEN` routes; a request with a token is still checked
(so scopes can be tried out). `ADMIN_TOKEN` routes also need the `admin` scope (403 without it), whatever
the route itself checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from fhir_server.core.negotiation import FHIR_JSON_UTF8
from fhir_server.errors import FhirError, Problem
from fhir_server.security.components import AuthComponents
from fhir_server.security.enforcement.checks import STATE_KEY, forbidden
from fhir_server.security.enforcement.policy import anonymous_development
from fhir_server.security.oauth.access_tokens import InvalidToken
from fhir_server.security.oauth.urls import Urls


class Protection(Enum):
    PUBLIC = "public"  # no token needed; the route does its own client authentication, if any
    TOKEN = "token"  # a verified access token; anonymous full access in development mode
    ADMIN_TOKEN = "admin-token"  # a verified access token in every mode: these decide where credentials go
    # TOKEN, or PUBLIC when the operator set FHIR_PUBLIC_OPS_ENDPOINTS (a private network's token-less
    # scraper); who may see them is the routes' decision (fhir_server.observability.ops_access).
    OPS_TOKEN = "ops-token"


PUBLIC, TOKEN, ADMIN_TOKEN, OPS_TOKEN = (
    Protection.PUBLIC,
    Protection.TOKEN,
    Protection.ADMIN_TOKEN,
    Protection.OPS_TOKEN,
)
READS = frozenset({"GET", "HEAD"})


@dataclass(frozen=True)
class Rule:
    path: str
    protection: Protection
    exact: bool = False  # this path only; else the path and everything under it
    methods: frozenset[str] | None = None  # None: every method

    def covers(self, method: str, path: str) -> bool:
        if self.methods is not None and method not in self.methods:
            return False
        if self.exact:
            return path == self.path
        return path == self.path or path.startswith(self.path + "/")


RULES: tuple[Rule, ...] = (
    # FHIR API, including SMART Health Link management ($shl…) and AuditEvent.
    Rule("/fhir", TOKEN),
    # Public by the spec: the CapabilityStatement and the SMART discovery document (App Launch 2.2
    # §conformance); read-only, so POST /fhir/metadata is still a (protected) create.
    Rule("/fhir/metadata", PUBLIC, exact=True, methods=READS),
    Rule("/fhir/.well-known/smart-configuration", PUBLIC, exact=True, methods=READS),
    Rule("/dicomweb", TOKEN),
    # The authorization server: authorize, token, introspect, revoke (client authentication is theirs), jwks,
    # its OpenID discovery document, and the login, patient picker and consent pages (a browser has no token).
    Rule("/auth", PUBLIC),
    Rule("/auth/admin", ADMIN_TOKEN),
    Rule("/admin", ADMIN_TOKEN),
    # SMART Health Links: manifests, files and the viewer are anonymous by design (the link is the secret).
    Rule("/shl", PUBLIC),
    # The old app's API (fhir_server.legacy.api) and its QR endpoints, which create SMART Health Links for
    # the caller: patient data, so a token like /fhir. Its health check says no more than /health/ready.
    Rule("/api", TOKEN),
    Rule("/api/status", PUBLIC, exact=True, methods=READS),
    # The dashboard: its HTML shell, assets and old addresses are public; its API is not, except the
    # configuration it needs to start signing in.
    Rule("/app", PUBLIC),
    Rule("/app/api", TOKEN),
    Rule("/app/api/config", PUBLIC, exact=True, methods=READS),
    Rule("/dashboard", PUBLIC, exact=True, methods=READS),
    Rule("/", PUBLIC, exact=True, methods=READS),  # a redirect to the dashboard
    Rule("/patient-access", PUBLIC, methods=READS),
    Rule("/federation-access", PUBLIC, exact=True, methods=READS),
    # The image viewer: its pages and assets are public (the images it loads are not); its launch API is not.
    Rule("/viewer", PUBLIC, methods=READS),
    Rule("/viewer/api", TOKEN),
    # Orchestrators probe these without credentials; they say nothing but "up".
    Rule("/health/live", PUBLIC, exact=True, methods=READS),
    Rule("/health/ready", PUBLIC, exact=True, methods=READS),
    # Hospital names and Orthanc state, request counts: not for anyone who can reach the port.
    Rule("/health/orthanc", OPS_TOKEN),
    Rule("/metrics", OPS_TOKEN),
    Rule("/docs", PUBLIC, methods=READS),
    Rule("/openapi.json", PUBLIC, exact=True, methods=READS),
    # The subscriptions' websocket: its single-use binding token is the credential (browsers cannot send
    # headers on a websocket); the token comes from Subscription/{id}/$get-ws-binding-token (TOKEN above).
    Rule("/subscriptions/websocket", PUBLIC, exact=True),
)


def rule_for(method: str, path: str) -> Rule | None:
    """The most specific rule covering the request (longest path; an exact rule before a prefix rule of
    the same path), or None when no rule names it."""
    covering = [r for r in RULES if r.covers(method, path)]
    return max(covering, key=lambda r: (len(r.path), r.exact), default=None)


def protection_of(method: str, path: str) -> Protection:
    rule = rule_for(method.upper(), path)
    return TOKEN if rule is None else rule.protection  # unclassified: default deny


def route_path(scope: Scope) -> str:
    """The path the router matches (Starlette's `get_route_path`: without the app's root path), so that the
    rule is chosen for exactly the route that will answer."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path != root and path[len(root)] == "/":
        return path[len(root) :]
    return path


class BearerAuthentication:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # OPTIONS: CORS preflights carry no credentials (CORSMiddleware answers them, outside this one).
        if scope["type"] != "http" or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        auth: AuthComponents = scope["app"].state.auth
        protection = protection_of(scope["method"], route_path(scope))
        if protection is PUBLIC or (protection is OPS_TOKEN and auth.settings.public_ops_endpoints):
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        urls = Urls.for_settings(auth.settings)
        scheme, _, token = connection.headers.get("authorization", "").partition(" ")
        token = token.strip()
        try:
            if not scheme and auth.development and protection is not ADMIN_TOKEN:
                access = anonymous_development(urls.fhir_base)
            elif scheme.lower() != "bearer" or not token:
                raise InvalidToken("A Bearer access token is required (Authorization: Bearer <token>)")
            else:
                # A token verified before (oauth/token_cache.py) is answered here, without a thread or I/O.
                cached = auth.verifier.cached(token, urls)
                if cached is None:
                    cached = await run_in_threadpool(auth.verifier.verify, token, urls)
                access = cached
        except InvalidToken as exc:
            await _response(_unauthorized(urls, str(exc)))(scope, receive, send)
            return
        if protection is ADMIN_TOKEN and not access.is_admin:
            await _response(forbidden("The administration API needs the admin scope"))(scope, receive, send)
            return
        scope.setdefault("state", {})[STATE_KEY] = access
        await self.app(scope, receive, send)


def _unauthorized(urls: Urls, reason: str) -> FhirError:
    realm = urls.fhir_base.replace('"', "")  # FHIR_PUBLIC_BASE_URL is an operator's free text
    challenge = f'Bearer realm="{realm}", error="invalid_token", error_description="{reason}"'
    return FhirError(Problem.UNAUTHORIZED, reason, headers={"WWW-Authenticate": challenge})


def _response(error: FhirError) -> Response:
    # Outside the routes: the application's FhirError handler does not see what this middleware raises.
    return Response(
        orjson.dumps(error.outcome()), error.status, dict(error.headers), media_type=FHIR_JSON_UTF8
    )
