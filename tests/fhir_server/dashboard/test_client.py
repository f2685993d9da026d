"""The dashboard's SMART client: registered at start as a first-party public client whose redirect URI is a
path on this server's own root, and nowhere else."""

from __future__ import annotations

import base64
import hashlib
import secrets

import httpx
import pytest

from fhir_server.dashboard.client import CALLBACK_PATH, CLIENT_ID, dashboard_client
from fhir_server.security.accounts.clients import ClientRegistry
from tests.fhir_server.dashboard.dashboard_support import DashboardServer


def test_relative_redirect_uri_means_the_servers_own_root() -> None:
    client = dashboard_client().for_server("https://h.example/imaging")
    assert client.check_redirect_uri("https://h.example/imaging/app/callback")
    assert not client.check_redirect_uri("https://evil.example/imaging/app/callback")
    assert not client.check_redirect_uri("https://h.example/app/callback")
    assert not client.check_redirect_uri("https://h.example/imaging/app/callback/../x")
    assert not client.check_redirect_uri(CALLBACK_PATH)


def test_unbound_or_third_party_clients_get_no_relative_rule() -> None:
    assert not dashboard_client().check_redirect_uri("http://127.0.0.1:8080/app/callback")
    third_party = dashboard_client()
    third_party.first_party = False
    assert not third_party.for_server("http://127.0.0.1:8080").check_redirect_uri(
        "http://127.0.0.1:8080/app/callback"
    )


def test_registered_once_as_first_party_public_client(dashboard_server: DashboardServer) -> None:
    registry = ClientRegistry(dashboard_server.connection.documents)
    stored = registry.get(CLIENT_ID)
    assert stored is not None
    assert stored.first_party and stored.kind == "public"
    assert stored.redirect_uris == [CALLBACK_PATH]
    assert sum(1 for c in registry.list() if c.client_id == CLIENT_ID) == 1


def _authorize(origin: str, redirect_uri: str) -> httpx.Response:
    verifier = secrets.token_urlsafe(32)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    params = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": redirect_uri,
        "scope": "openid user/*.rs",
        "state": "s1",
        "aud": f"{origin}/fhir",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    return httpx.get(f"{origin}/auth/authorize", params=params, timeout=30, follow_redirects=False)


def test_authorize_accepts_the_callback_on_this_server(dashboard_server: DashboardServer) -> None:
    response = _authorize(dashboard_server.origin, f"{dashboard_server.origin}/app/callback")
    assert response.status_code == 200
    assert 'id="username"' in response.text  # the login page


@pytest.mark.parametrize(
    "redirect_uri", ["https://evil.example/app/callback", "/app/callback", "http://127.0.0.1:1/app/callback"]
)
def test_authorize_refuses_a_callback_elsewhere(dashboard_server: DashboardServer, redirect_uri: str) -> None:
    response = _authorize(dashboard_server.origin, redirect_uri)
    assert response.status_code != 302 and "location" not in response.headers
    assert "cannot be used" in response.text
