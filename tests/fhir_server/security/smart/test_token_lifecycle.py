"""Access ends when it should: deleting or disabling a user or client revokes its tokens at once; refresh
tokens rotate and a reused one revokes its grant; introspection needs an authenticated client; a public
client refreshes without naming itself. Against the shared secured server, through its real endpoints."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oauth2.rfc7523 import PrivateKeyJWT

from tests.fhir_server.security.smart.smart_browser import Browser
from tests.fhir_server.security.smart.smart_support import (
    APP_SCOPE,
    BACKEND_RS,
    HTTP,
    PASSWORD,
    PATIENT_A,
    PUBLIC_APP,
    REDIRECT,
    SECRET_APP,
    TLS,
    SmartServer,
    authorize_url,
    code_flow_tokens,
    pkce,
    run_cli,
)

SCOPE = "openid fhirUser offline_access user/*.rs"


def _unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


@pytest.fixture
def person(smart: SmartServer) -> Iterator[str]:
    """A clinician of this test alone (the shared accounts must keep working for the other tests)."""
    username = _unique("leaver")
    _add_user(smart, username)
    yield username
    with smart.admin() as admin:
        admin.delete(f"/auth/admin/users/{username}")


@pytest.fixture
def app(smart: SmartServer) -> Iterator[str]:
    """A public app of this test alone."""
    client_id = _unique("app")
    spec = {
        "client_id": client_id,
        "client_name": "Lifecycle app",
        "kind": "public",
        "scope": APP_SCOPE,
        "redirect_uris": [REDIRECT],
    }
    with smart.admin() as admin:
        assert admin.post("/auth/admin/clients", json=spec).status_code == 201
    yield client_id
    with smart.admin() as admin:
        admin.delete(f"/auth/admin/clients/{client_id}")


@pytest.fixture(scope="module")
def resource_server(smart: SmartServer) -> tuple[str, str]:
    """A confidential client allowed to introspect every token (a resource server): (client_id, secret)."""
    spec = {
        "client_id": _unique("rs"),
        "client_name": "Resource server",
        "kind": "confidential-symmetric",
        "scope": "user/*.rs",
        "redirect_uris": [REDIRECT],
        "introspect": True,
    }
    with smart.admin() as admin:
        response = admin.post("/auth/admin/clients", json=spec)
    assert response.status_code == 201, response.text
    return spec["client_id"], response.json()["client_secret"]


def _add_user(smart: SmartServer, username: str) -> None:
    with smart.admin() as admin:
        response = admin.post(
            "/auth/admin/users", json={"username": username, "password": PASSWORD, "role": "clinician"}
        )
    assert response.status_code == 201, response.text


def _login(smart: SmartServer, username: str, **options: Any) -> dict[str, Any]:
    """The token response of a complete code flow in a browser of its own."""
    browser = Browser(smart.origin)
    try:
        return code_flow_tokens(smart.urls, browser, SCOPE, username, **options)
    finally:
        browser.close()


def _status(smart: SmartServer, access_token: str) -> int:
    with smart.client(access_token) as c:
        return c.get(f"/Patient/{PATIENT_A}").status_code


def _status_within_a_second(smart: SmartServer, access_token: str, expected: int) -> bool:
    """Whether the status becomes `expected` within the second a revocation elsewhere may take (README)."""
    deadline = time.monotonic() + 1.0
    while (status := _status(smart, access_token)) != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    return status == expected


def _refresh(smart: SmartServer, refresh_token: str, **form: str) -> httpx.Response:
    return HTTP.post(
        smart.urls.token, data={"grant_type": "refresh_token", "refresh_token": refresh_token, **form}
    )


def _introspect(smart: SmartServer, rs: tuple[str, str], token: str) -> dict[str, Any]:
    response = HTTP.post(smart.urls.introspect, data={"token": token}, auth=rs)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _admin(smart: SmartServer, method: str, path: str, **kwargs: Any) -> httpx.Response:
    with smart.admin() as admin:
        return admin.request(method, f"/auth/admin{path}", **kwargs)


# -- deleting and disabling ---------------------------------------------------------------------------------


def test_deleting_a_user_revokes_their_tokens_at_once(
    smart: SmartServer, person: str, resource_server: tuple[str, str]
) -> None:
    tokens = _login(smart, person)
    assert _status(smart, tokens["access_token"]) == 200
    assert _introspect(smart, resource_server, tokens["refresh_token"])["active"] is True
    assert _admin(smart, "DELETE", f"/users/{person}").status_code == 204
    # The very next request, no waiting: verification reads the revocation on every request.
    assert _status(smart, tokens["access_token"]) == 401
    assert _refresh(smart, tokens["refresh_token"], client_id=PUBLIC_APP).json()["error"] == "invalid_grant"
    for token in (tokens["access_token"], tokens["refresh_token"]):
        assert _introspect(smart, resource_server, token) == {"active": False}
    # A new account of the same name gets new tokens; the old ones stay dead.
    _add_user(smart, person)
    again = _login(smart, person)
    assert _status(smart, again["access_token"]) == 200
    assert _status(smart, tokens["access_token"]) == 401
    assert _refresh(smart, tokens["refresh_token"], client_id=PUBLIC_APP).json()["error"] == "invalid_grant"


def test_disabling_a_user_revokes_their_tokens_and_enabling_does_not_revive_them(
    smart: SmartServer, browser: Browser, person: str
) -> None:
    tokens = _login(smart, person)
    disabled = _admin(smart, "PATCH", f"/users/{person}", json={"disabled": True})
    assert disabled.status_code == 200 and disabled.json()["disabled"] is True
    listed = {u["username"]: u for u in _admin(smart, "GET", "/users").json()}
    assert listed[person]["disabled"] is True
    assert _status(smart, tokens["access_token"]) == 401
    assert _refresh(smart, tokens["refresh_token"], client_id=PUBLIC_APP).json()["error"] == "invalid_grant"
    _, challenge = pkce()
    refused = browser.authorize(authorize_url(smart.urls, SCOPE, challenge), person, PASSWORD)
    assert refused.status_code == 401 and "not correct" in refused.text  # a disabled account cannot sign in
    enabled = _admin(smart, "PATCH", f"/users/{person}", json={"disabled": False})
    assert enabled.status_code == 200 and "disabled" not in enabled.json()
    assert _status(smart, tokens["access_token"]) == 401
    assert _refresh(smart, tokens["refresh_token"], client_id=PUBLIC_APP).json()["error"] == "invalid_grant"
    fresh = _login(smart, person)
    assert _status(smart, fresh["access_token"]) == 200
    assert _admin(smart, "PATCH", "/users/nobody-here", json={"disabled": True}).status_code == 404


def test_disabling_or_deleting_a_client_revokes_its_tokens(smart: SmartServer, person: str, app: str) -> None:
    tokens = _login(smart, person, client_id=app)
    assert _status(smart, tokens["access_token"]) == 200
    disabled = _admin(smart, "PATCH", f"/clients/{app}", json={"disabled": True})
    assert disabled.status_code == 200 and disabled.json()["disabled"] is True
    assert _status(smart, tokens["access_token"]) == 401
    assert _refresh(smart, tokens["refresh_token"], client_id=app).json()["error"] == "invalid_client"
    assert _admin(smart, "PATCH", f"/clients/{app}", json={"disabled": False}).status_code == 200
    assert _status(smart, tokens["access_token"]) == 401  # re-enabling revives nothing
    assert _refresh(smart, tokens["refresh_token"], client_id=app).json()["error"] == "invalid_grant"
    fresh = _login(smart, person, client_id=app)
    assert _status(smart, fresh["access_token"]) == 200
    assert _admin(smart, "DELETE", f"/clients/{app}").status_code == 204
    assert _status(smart, fresh["access_token"]) == 401
    assert _refresh(smart, fresh["refresh_token"]).json()["error"] == "invalid_client"


def test_disabling_a_backend_service_revokes_its_tokens(smart: SmartServer) -> None:
    client_id = _unique("backend")
    spec = {
        "client_id": client_id,
        "client_name": "Short-lived backend",
        "kind": "confidential-asymmetric",
        "scope": "system/*.rs",
        "jwks": {"keys": [smart.rs384_key.as_dict(private=False)]},
    }
    assert _admin(smart, "POST", "/clients", json=spec).status_code == 201
    try:
        token = _backend_token(smart, client_id)
        assert _status(smart, token) == 200
        assert _admin(smart, "PATCH", f"/clients/{client_id}", json={"disabled": True}).status_code == 200
        assert _status(smart, token) == 401
        assert _admin(smart, "PATCH", f"/clients/{client_id}", json={"disabled": False}).status_code == 200
        assert _status(smart, token) == 401
        assert _status(smart, _backend_token(smart, client_id)) == 200
    finally:
        _admin(smart, "DELETE", f"/clients/{client_id}")


def _backend_token(smart: SmartServer, client_id: str) -> str:
    auth = PrivateKeyJWT(
        smart.urls.token, claims={"exp": int(time.time()) + 120}, headers={"kid": "rs-1"}, alg="RS384"
    )
    with OAuth2Client(
        client_id, smart.rs384_key, token_endpoint_auth_method=auth, scope="system/*.rs", verify=TLS
    ) as client:
        return str(client.fetch_token(smart.urls.token, grant_type="client_credentials")["access_token"])


# -- refresh token rotation -------------------------------------------------------------------------------


def test_refresh_tokens_rotate_and_a_reused_one_revokes_the_whole_grant(
    smart: SmartServer, person: str, resource_server: tuple[str, str]
) -> None:
    first = _login(smart, person)
    second = _refresh(smart, first["refresh_token"], client_id=PUBLIC_APP).json()
    assert second["refresh_token"] != first["refresh_token"]
    assert _introspect(smart, resource_server, first["refresh_token"]) == {"active": False}  # spent
    third = _refresh(smart, second["refresh_token"], client_id=PUBLIC_APP).json()
    assert third["scope"] == first["scope"]
    for tokens in (first, second, third):
        assert _status(smart, tokens["access_token"]) == 200
    # Someone replays the first refresh token: the grant is compromised, everything of it ends.
    reused = _refresh(smart, first["refresh_token"], client_id=PUBLIC_APP)
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    assert _refresh(smart, third["refresh_token"], client_id=PUBLIC_APP).json()["error"] == "invalid_grant"
    for tokens in (first, second, third):
        assert _status(smart, tokens["access_token"]) == 401


def test_parallel_refreshes_with_one_token_succeed_at_most_once(smart: SmartServer, person: str) -> None:
    tokens = _login(smart, person)
    racers = 8
    start = threading.Barrier(racers)

    def race(_: int) -> httpx.Response:
        with httpx.Client(timeout=30, verify=TLS) as client:  # a connection each: truly parallel
            start.wait()
            form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
            return client.post(smart.urls.token, data={**form, "client_id": PUBLIC_APP})

    with ThreadPoolExecutor(racers) as pool:
        responses = list(pool.map(race, range(racers)))
    won = [r.json() for r in responses if r.status_code == 200]
    assert len(won) <= 1, [r.text for r in responses]
    assert all(r.json()["error"] == "invalid_grant" for r in responses if r.status_code != 200)
    # The losers presented a spent token, which is what a thief's replay looks like: the grant is revoked,
    # including whatever the winner got.
    for winner in won:
        assert _status(smart, winner["access_token"]) == 401
        assert _refresh(smart, winner["refresh_token"]).json()["error"] == "invalid_grant"
    assert _status(smart, tokens["access_token"]) == 401


def test_a_narrower_refresh_keeps_the_whole_grant(smart: SmartServer, person: str) -> None:
    tokens = _login(smart, person)
    narrow = _refresh(smart, tokens["refresh_token"], client_id=PUBLIC_APP, scope="user/Patient.rs").json()
    assert narrow["scope"] == "user/Patient.rs" and narrow["refresh_token"]
    full = _refresh(smart, narrow["refresh_token"], client_id=PUBLIC_APP).json()
    assert full["scope"] == tokens["scope"]  # RFC 6749 §6: the new refresh token has the original scope


def test_a_public_client_refreshes_without_client_id(smart: SmartServer, person: str) -> None:
    tokens = _login(smart, person)
    refreshed = _refresh(smart, tokens["refresh_token"])  # what SMART's JavaScript client sends
    assert refreshed.status_code == 200, refreshed.text
    assert _status(smart, refreshed.json()["access_token"]) == 200
    # A confidential client's refresh token names no one who may skip authentication.
    secret = _login(smart, person, client_id=SECRET_APP, client_auth=(SECRET_APP, smart.secret))
    anonymous = _refresh(smart, secret["refresh_token"])
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "invalid_client"
    authenticated = HTTP.post(
        smart.urls.token,
        data={"grant_type": "refresh_token", "refresh_token": secret["refresh_token"]},
        auth=(SECRET_APP, smart.secret),
    )
    assert authenticated.status_code == 200, authenticated.text


# -- introspection ----------------------------------------------------------------------------------------


def test_introspection_requires_client_authentication(smart: SmartServer, person: str) -> None:
    tokens = _login(smart, person, client_id=SECRET_APP, client_auth=(SECRET_APP, smart.secret))
    token = {"token": tokens["access_token"]}
    for unauthenticated in (
        HTTP.post(smart.urls.introspect, data=token),
        HTTP.post(smart.urls.introspect, data={**token, "client_id": PUBLIC_APP}),  # public: no secret
        HTTP.post(smart.urls.introspect, data={**token, "client_id": SECRET_APP}),
        HTTP.post(smart.urls.introspect, data=token, auth=(SECRET_APP, "wrong-secret-wrong-secret")),
        HTTP.post(
            smart.urls.introspect,
            data={
                **token,
                "client_id": BACKEND_RS,
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": "not.a.jwt",
            },
        ),
    ):
        assert unauthenticated.status_code == 401, unauthenticated.text
        assert unauthenticated.headers["www-authenticate"]
        assert unauthenticated.json()["error"] == "invalid_client"
        assert "active" not in unauthenticated.json()
    basic = HTTP.post(smart.urls.introspect, data=token, auth=(SECRET_APP, smart.secret))
    assert basic.status_code == 200 and basic.json()["active"] is True
    posted = HTTP.post(
        smart.urls.introspect, data={**token, "client_id": SECRET_APP, "client_secret": smart.secret}
    )
    assert posted.status_code == 200 and posted.json()["active"] is True
    # private_key_jwt authenticates too; another client's token is simply not active for it.
    auth = PrivateKeyJWT(
        smart.urls.token, claims={"exp": int(time.time()) + 120}, headers={"kid": "rs-1"}, alg="RS384"
    )
    with OAuth2Client(BACKEND_RS, smart.rs384_key, token_endpoint_auth_method=auth, verify=TLS) as client:
        foreign = client.introspect_token(smart.urls.introspect, token=tokens["access_token"])
    assert foreign.status_code == 200 and foreign.json() == {"active": False}


def test_the_cli_disables_and_removes_users_and_clients_with_their_tokens(
    smart: SmartServer, person: str, app: str
) -> None:
    data = str(smart.running.data_dir)
    tokens = _login(smart, person, client_id=app)
    disabled = json.loads(run_cli("user", "disable", person, "--data-dir", data).stdout)
    assert disabled["disabled"] is True
    assert _status(smart, tokens["access_token"]) == 401
    assert "disabled" not in json.loads(run_cli("user", "enable", person, "--data-dir", data).stdout)
    fresh = _login(smart, person, client_id=app)
    assert _status(smart, fresh["access_token"]) == 200
    assert json.loads(run_cli("client", "disable", app, "--data-dir", data).stdout)["disabled"] is True
    # `fresh` was verified (and cached) by the server: another process's revocation reaches it within 1 s.
    assert _status_within_a_second(smart, fresh["access_token"], 401)
    run_cli("client", "enable", app, "--data-dir", data)
    again = _login(smart, person, client_id=app)
    assert run_cli("user", "remove", person, "--data-dir", data).stdout.strip() == "removed"
    assert _status(smart, again["access_token"]) == 401
