"""The one bearer check (fhir_server.security.enforcement.bearer): every route of the application is
classified by the
middleware's rule table, public routes are exactly the ones listed here, and on a secured server every
protected route answers 401 without a token — before any handler runs."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from fastapi.routing import iter_route_contexts

from fhir_server.app import create_app
from fhir_server.rest.routes import ROUTES as ROUTE_TABLE
from fhir_server.security.enforcement.bearer import (
    ADMIN_TOKEN,
    OPS_TOKEN,
    PUBLIC,
    TOKEN,
    Protection,
    protection_of,
    rule_for,
)
from fhir_server.settings import Settings
from tests.fhir_server.security.smart.smart_support import HTTP, PATIENT_A, SmartServer
from tests.server_process import RunningServer

# Every public route, by method and path template. A new route under a public prefix (/auth, /shl, /app)
# fails test_public_routes_are_exactly_the_listed_ones until it is added here: being public is a decision.
PUBLIC_ROUTES = {
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/docs/assets/{name}"),
    ("GET", "/"),
    ("GET", "/fhir/metadata"),
    ("GET", "/fhir/.well-known/smart-configuration"),
    ("GET", "/auth/.well-known/openid-configuration"),
    ("GET", "/auth/jwks"),
    ("GET", "/auth/static/auth.css"),
    ("GET", "/auth/authorize"),
    ("POST", "/auth/authorize"),
    ("POST", "/auth/token"),
    ("POST", "/auth/introspect"),
    ("POST", "/auth/revoke"),
    ("POST", "/auth/login"),
    ("GET", "/auth/patients"),
    ("POST", "/auth/patient"),
    ("POST", "/auth/consent"),
    ("POST", "/shl/m/{manifest_id}"),
    ("GET", "/shl/m/{manifest_id}"),
    ("GET", "/shl/f/{location}"),
    ("GET", "/shl/viewer"),
    ("GET", "/shl/viewer/{name}"),
    ("GET", "/health/live"),
    ("GET", "/health/ready"),
    ("GET", "/api/status"),  # the old app's health check: says no more than /health/ready
    ("GET", "/dashboard"),
    ("GET", "/patient-access/{patient_id}"),
    ("GET", "/federation-access"),
    ("GET", "/app/api/config"),
    ("GET", "/app/static/{name:path}"),
    ("GET", "/app"),
    ("GET", "/app/{page:path}"),
    # The image viewer's pages, configuration and build (the images come from the protected /dicomweb).
    ("GET", "/viewer"),
    ("GET", "/viewer/app-config.js"),
    ("GET", "/viewer/IHEInvokeImageDisplay"),
    ("GET", "/viewer/signin"),
    ("GET", "/viewer/static/{name}"),
    ("GET", "/viewer/{path:path}"),
}


def _routes() -> Iterator[tuple[str, str]]:
    """The application's own routes and the FHIR route table's rows (answered by the HTTP adapter, not
    registered with the framework)."""
    app = create_app(Settings(auth_mode="smart"))
    for route in iter_route_contexts(app.routes):
        for method in sorted(route.methods or ()):
            if method != "HEAD":  # HEAD follows GET in every rule
                yield method, str(route.path)
    for row in ROUTE_TABLE:
        yield row.method, "/fhir" + (row.http_path or "")


def _sample(template: str) -> str:
    """A concrete path the route matches: every parameter replaced by a plain value."""
    return re.sub(r"\{[^}]+\}", "x1", template)


ROUTES = sorted(set(_routes()))


def test_every_route_is_classified_by_a_rule() -> None:
    unclassified = [(m, p) for m, p in ROUTES if rule_for(m, _sample(p)) is None]
    assert not unclassified, (
        f"add these routes to fhir_server.security.enforcement.bearer.RULES: {unclassified}"
    )


def test_every_row_of_the_fhir_route_table_is_a_classified_route() -> None:
    """The /fhir rows (fhir_server.rest.routes) are among the routes above, so the rule checks cover them;
    a row served by a feature is also one of the application's routes."""
    rows = {(r.method, "/fhir" + (r.http_path or "")) for r in ROUTE_TABLE}
    assert rows <= set(ROUTES)
    app = create_app(Settings(auth_mode="smart"))
    registered = {(m, str(r.path)) for r in iter_route_contexts(app.routes) for m in r.methods or ()}
    for row in ROUTE_TABLE:
        if row.handler is None:
            assert (row.method, "/fhir" + row.http_path) in registered, row


def test_public_routes_are_exactly_the_listed_ones() -> None:
    public = {(m, p) for m, p in ROUTES if protection_of(m, _sample(p)) is PUBLIC}
    assert public == PUBLIC_ROUTES


def test_admin_routes_need_a_token_even_in_development_mode() -> None:
    admin = {p for m, p in ROUTES if protection_of(m, _sample(p)) is ADMIN_TOKEN}
    assert admin >= {
        "/auth/admin/clients",
        "/auth/admin/users",
        "/auth/admin/keys/rotate",
        "/admin/hospitals",
    }
    assert all(p.startswith(("/auth/admin/", "/admin/")) for p in admin)


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/fhir/metadata", PUBLIC),
        ("HEAD", "/fhir/metadata", PUBLIC),
        ("POST", "/fhir/metadata", TOKEN),  # a create of type "metadata", not the CapabilityStatement
        ("GET", "/fhir/metadata/x", TOKEN),
        ("GET", "/fhir/Patient", TOKEN),
        ("POST", "/fhir", TOKEN),
        ("GET", "/fhir/AuditEvent", TOKEN),
        ("POST", f"/fhir/Patient/{PATIENT_A}/$shl", TOKEN),
        ("GET", "/dicomweb/e1/studies", TOKEN),
        ("GET", "/app/api/hospitals", TOKEN),
        ("GET", "/app/api/anything", TOKEN),
        ("POST", "/app/api/config", TOKEN),
        ("GET", "/api/patients/p1/qr", TOKEN),
        ("GET", "/metrics", OPS_TOKEN),
        ("GET", "/health/orthanc", OPS_TOKEN),
        ("GET", "/auth/admin/users", ADMIN_TOKEN),
        ("POST", "/admin/hospitals", ADMIN_TOKEN),
        ("GET", "/auth/adminx", PUBLIC),  # no admin route: /auth is the authorization server's
        # Not named by any rule: protected (default deny).
        ("GET", "/nowhere", TOKEN),
        ("GET", "/fhirx/Patient", TOKEN),
        ("GET", "/authx/token", TOKEN),
        ("GET", "/health", TOKEN),
    ],
)
def test_rules(method: str, path: str, expected: Protection) -> None:
    assert protection_of(method, path) is expected


# -- on a secured server ---------------------------------------------------------------------------------


def test_every_protected_route_refuses_a_request_without_a_token(smart: SmartServer) -> None:
    protected = [(m, p) for m, p in ROUTES if protection_of(m, _sample(p)) is not PUBLIC]
    assert len(protected) > 60
    answers = {}
    for method, template in protected:
        response = HTTP.request(method, smart.origin + _sample(template), content=b"{}")
        answers[(method, template)] = response.status_code
        if response.status_code == 401:
            assert response.headers["www-authenticate"].startswith("Bearer ")
            assert response.json()["resourceType"] == "OperationOutcome"
    assert {k: v for k, v in answers.items() if v != 401} == {}


@pytest.mark.parametrize("path", ["/auth/admin/users", "/admin/hospitals", "/app/api/hospitals", "/metrics"])
def test_a_forged_or_foreign_token_is_refused(smart: SmartServer, path: str) -> None:
    for token in ("not-a-token", smart.mint("admin system/*.cruds", aud="https://elsewhere.example/fhir")):
        response = HTTP.get(smart.origin + path, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, (path, response.text)


@pytest.mark.parametrize("path", ["/auth/admin/users", "/admin/hospitals"])
def test_admin_routes_need_the_admin_scope(smart: SmartServer, path: str) -> None:
    for token in (
        smart.mint("user/*.cruds", role="clinician"),
        smart.mint("patient/*.rs", patient=PATIENT_A, fhir_user=f"Patient/{PATIENT_A}", role="patient"),
    ):
        response = HTTP.get(smart.origin + path, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 403, (path, response.text)
        assert response.json()["resourceType"] == "OperationOutcome"
    admin = HTTP.get(smart.origin + path, headers={"Authorization": f"Bearer {smart.mint('admin')}"})
    assert admin.status_code == 200, admin.text


def test_public_routes_answer_without_a_token(smart: SmartServer) -> None:
    for path in (
        "/fhir/metadata",
        "/fhir/.well-known/smart-configuration",
        "/health/live",
        "/app/api/config",
    ):
        assert HTTP.get(smart.origin + path).status_code == 200, path
    assert HTTP.get(smart.origin + "/app/").status_code == 200


def test_development_mode_is_anonymous_except_for_administration(server: RunningServer) -> None:
    """`server` (tests/conftest.py) runs in FHIR_AUTH_MODE=development."""
    origin = server.base_url.removesuffix("/fhir")
    with httpx.Client(base_url=origin, timeout=30) as client:
        assert client.get("/fhir/Patient").status_code == 200
        assert client.get("/metrics").status_code == 200
        for path in ("/auth/admin/users", "/admin/hospitals"):
            response = client.get(path)
            assert response.status_code == 401, (path, response.text)
            assert response.json()["resourceType"] == "OperationOutcome"
