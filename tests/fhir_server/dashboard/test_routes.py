"""The dashboard's HTTP routes over real HTTP: pages and assets with their security headers, the config and
hospital-sync endpoints (401/403/404 as OperationOutcome), and the old application's addresses."""

from __future__ import annotations

import re

import httpx
import pytest

from fhir_server.dashboard.client import CLIENT_ID, SCOPE
from fhir_server.dicomweb.sync.state import SyncStateStore
from tests.fhir_server.dashboard.dashboard_support import DashboardServer


def _outcome(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    body: dict[str, object] = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return body


@pytest.mark.parametrize("path", ["/app/", "/app/patients/legacy-pat-901234", "/app/federation"])
def test_every_page_is_the_app_with_a_strict_csp(http: httpx.Client, path: str) -> None:
    response = http.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "connect-src 'self'" in csp
    assert response.headers["referrer-policy"] == "no-referrer"
    assert '<script type="module" src="/app/static/js/main.js">' in response.text
    assert "<script>" not in response.text  # no inline script


def test_assets_are_served_from_the_package_and_nothing_else(http: httpx.Client) -> None:
    script = http.get("/app/static/js/main.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert "content-security-policy" in script.headers
    assert http.get("/app/static/app.css").headers["content-type"].startswith("text/css")
    for bad in ("/app/static/%2e%2e/routes.py", "/app/static/%2e%2e/__init__.py", "/app/static/nope.js"):
        _outcome(http.get(bad), 404)


def test_no_asset_comes_from_another_origin(http: httpx.Client) -> None:
    page = http.get("/app/").text
    assert "http://" not in page and "https://" not in page


def test_config_says_how_to_sign_in(http: httpx.Client, dashboard_server: DashboardServer) -> None:
    config = http.get("/app/api/config").json()
    assert config["clientId"] == CLIENT_ID
    assert config["scope"] == SCOPE
    assert config["fhirBase"] == dashboard_server.base_url
    assert config["redirectUri"] == f"{dashboard_server.origin}/app/callback"
    assert config["appBase"] == "/app/"
    assert config["nationalIdSystem"].endswith("/sid/national-id")


def test_hospital_sync_status_needs_a_token(http: httpx.Client) -> None:
    body = _outcome(http.get("/app/api/hospitals"), 401)
    assert "Bearer" in str(body)
    _outcome(http.get("/app/api/hospitals", headers={"Authorization": "Bearer not-a-token"}), 401)


def test_hospital_sync_status_needs_access_to_organizations(
    http: httpx.Client, dashboard_server: DashboardServer
) -> None:
    token = dashboard_server.mint("patient/Patient.rs")
    response = http.get("/app/api/hospitals", headers={"Authorization": f"Bearer {token}"})
    _outcome(response, 403)


def test_hospital_sync_status_lists_every_hospital(
    http: httpx.Client, dashboard_server: DashboardServer
) -> None:
    token = dashboard_server.mint("user/*.rs")
    response = http.get("/app/api/hospitals", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    hospitals = {h["identifier"]: h for h in response.json()["hospitals"]}
    assert {"HOS-001", "HOS-002", "HOS-003"} <= set(hospitals)
    first = hospitals["HOS-001"]
    assert first["organization"] == "Organization/legacy-hos-001"
    assert "lastSync" in first and "lastSyncError" in first
    assert not any("orthanc" in key.lower() or "password" in key.lower() for key in first)


def test_hospital_sync_status_for_a_patient_token(
    http: httpx.Client, dashboard_server: DashboardServer
) -> None:
    # Hospitals are outside every patient compartment: a patient may see them, as with GET /fhir/Organization.
    token = dashboard_server.mint(
        "patient/*.rs", patient="legacy-pat-901234", fhir_user="Patient/legacy-pat-901234", role="patient"
    )
    response = http.get("/app/api/hospitals", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    assert {"HOS-001", "HOS-002", "HOS-003"} <= {h["identifier"] for h in response.json()["hospitals"]}


def test_hospital_sync_status_shows_only_the_hospitals_the_token_may_see(
    http: httpx.Client, dashboard_server: DashboardServer
) -> None:
    token = dashboard_server.mint("user/Organization.rs?identifier=HOS-002")
    response = http.get("/app/api/hospitals", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    assert [h["identifier"] for h in response.json()["hospitals"]] == ["HOS-002"]


def test_unknown_dashboard_api_is_an_operation_outcome(
    http: httpx.Client, dashboard_server: DashboardServer
) -> None:
    _outcome(http.get("/app/api/nothing-here"), 401)  # the API is protected before it is routed
    token = dashboard_server.mint("user/*.rs")
    _outcome(http.get("/app/api/nothing-here", headers={"Authorization": f"Bearer {token}"}), 404)


@pytest.mark.parametrize("path", ["/admin/hospitals", "/auth/admin/users"])
def test_administration_needs_an_admin_token(
    http: httpx.Client, dashboard_server: DashboardServer, path: str
) -> None:
    _outcome(http.get(path), 401)
    patient = dashboard_server.mint(
        "patient/*.rs", patient="legacy-pat-901234", fhir_user="Patient/legacy-pat-901234", role="patient"
    )
    _outcome(http.get(path, headers={"Authorization": f"Bearer {patient}"}), 403)
    admin = dashboard_server.mint("admin")
    assert http.get(path, headers={"Authorization": f"Bearer {admin}"}).status_code == 200


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("/dashboard", "/app/"),
        ("/patient-access/PAT-901234", "/app/patients/PAT-901234"),
        ("/patient-access/legacy-pat-901234?tab=studies", "/app/patients/legacy-pat-901234?tab=studies"),
        (
            "/federation-access?national_id=199012345678901234",
            "/app/federation?national_id=199012345678901234",
        ),
        ("/app", "/app/"),
    ],
)
def test_old_addresses_redirect_permanently(http: httpx.Client, old: str, new: str) -> None:
    response = http.get(old)
    assert response.status_code == 308
    assert response.headers["location"] == new


def test_hospital_sync_status_reports_the_last_completed_sync(
    http: httpx.Client, dashboard_server: DashboardServer
) -> None:
    state = SyncStateStore(dashboard_server.connection.documents)
    state.completed("legacy-hos-003")
    state.failed("legacy-hos-003", "Orthanc answered 503")
    token = dashboard_server.mint("user/*.rs")
    response = http.get("/app/api/hospitals", headers={"Authorization": f"Bearer {token}"})
    coastal = next(h for h in response.json()["hospitals"] if h["identifier"] == "HOS-003")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", coastal["lastSync"])
    assert coastal["lastSyncError"] == "Orthanc answered 503"
    state.completed("legacy-hos-003")  # clears the error again
