"""The administration API: admin tokens only; validated registrations; key rotation keeps old tokens."""

from __future__ import annotations

import httpx
import pytest

from tests.fhir_server.security.smart.smart_support import HTTP, PATIENT_A, TLS, SmartServer


def test_admin_api_needs_an_admin_token(smart: SmartServer) -> None:
    assert HTTP.get(f"{smart.origin}/auth/admin/clients").status_code == 401
    headers = {"Authorization": f"Bearer {smart.mint('system/*.cruds')}"}
    response = HTTP.get(f"{smart.origin}/auth/admin/clients", headers=headers)
    assert response.status_code == 403 and response.json()["resourceType"] == "OperationOutcome"
    with smart.admin() as admin:
        assert {c["client_id"] for c in admin.get("/auth/admin/clients").json()} >= {
            "viewer-app",
            "backend-rs384",
        }
        assert all("secret_hash" not in c for c in admin.get("/auth/admin/clients").json())


@pytest.mark.parametrize(
    "spec",
    [
        {"client_name": "x", "kind": "public", "scope": "patient/*.rs"},  # no redirect URI
        {
            "client_name": "x",
            "kind": "public",
            "scope": "patient/*.rs",
            "redirect_uris": ["https://a/cb#frag"],
        },
        {"client_name": "x", "kind": "public", "scope": "doctor/*.rs", "redirect_uris": ["https://a/cb"]},
        {
            "client_name": "x",
            "kind": "confidential-asymmetric",
            "scope": "system/*.rs",
            "jwks_uri": "http://keys.example/jwks.json",
        },  # http outside loopback
        {
            "client_name": "x",
            "kind": "confidential-asymmetric",
            "scope": "system/*.rs",
            "jwks": {"keys": [{}]},
        },
        {"client_name": "x", "kind": "telepathic", "scope": "system/*.rs"},
    ],
)
def test_invalid_client_registrations_are_400(smart: SmartServer, spec: dict[str, object]) -> None:
    with smart.admin() as admin:
        response = admin.post("/auth/admin/clients", json=spec)
    assert response.status_code == 400, response.text
    assert response.json()["resourceType"] == "OperationOutcome"


def test_users_are_validated_and_passwords_never_returned(smart: SmartServer) -> None:
    with smart.admin() as admin:
        bad = admin.post(
            "/auth/admin/users", json={"username": "p1", "password": "long enough", "role": "patient"}
        )
        assert bad.status_code == 400  # a patient user needs their Patient
        short = admin.post(
            "/auth/admin/users", json={"username": "p2", "password": "short", "role": "clinician"}
        )
        assert short.status_code == 400
        users = admin.get("/auth/admin/users").json()
    assert all(set(u) == {"username", "role", "fhirUser", "name"} for u in users)


def test_key_rotation_keeps_old_tokens_valid(smart: SmartServer) -> None:
    before = smart.mint("system/Patient.r")
    with smart.admin() as admin:
        kid = admin.post("/auth/admin/keys/rotate").json()["kid"]
    jwks = HTTP.get(smart.urls.jwks).json()
    assert kid in {k["kid"] for k in jwks["keys"]} and len(jwks["keys"]) >= 2
    with httpx.Client(base_url=smart.base_url, verify=TLS) as c:
        for token in (before, smart.mint("system/Patient.r")):
            assert (
                c.get(f"/Patient/{PATIENT_A}", headers={"Authorization": f"Bearer {token}"}).status_code
                == 200
            )


def test_password_guessing_locks_the_account_for_a_while(smart: SmartServer) -> None:
    from fhir_server.security.accounts.users import MAX_FAILED_LOGINS, UserRegistry

    users = UserRegistry(smart.connection.documents)
    users.add("guess-me", "the real password", "clinician")
    for _ in range(MAX_FAILED_LOGINS):
        assert users.authenticate("guess-me", "wrong guess") is None
    assert users.authenticate("guess-me", "the real password") is None  # locked, even with the right password
    users.remove("guess-me")
