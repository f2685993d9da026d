"""The running matrix: one secured server with the demo data and its three local Orthancs (so DICOMweb
answers with real studies), the callers' HTTP clients (tokens, and browser sessions for the patients' own
accounts) and the world of Things they probe."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import httpx

from fhir_server.settings import Settings
from fhir_server.storage.connection import connect
from tests.fhir_server.security.leak_world import (
    CALLERS,
    OPERATOR,
    PASSWORD,
    PUBLIC_APP,
    REDIRECT,
    Caller,
    World,
    build_world,
    register_users,
)
from tests.fhir_server.security.smart.smart_browser import Browser, forms_of
from tests.server_process import SecuredServer, start_server


@dataclass
class Matrix:
    server: SecuredServer
    world: World
    clients: dict[str, httpx.Client] = field(default_factory=dict)  # caller name -> its HTTP client
    sessions: dict[str, str] = field(default_factory=dict)  # caller name -> pending sign-in (tx)
    operator: httpx.Client | None = None

    @property
    def origin(self) -> str:
        return self.server.origin

    def client(self, token: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.origin, headers=headers, timeout=30, follow_redirects=False)

    def close(self) -> None:
        for client in [*self.clients.values(), *([self.operator] if self.operator else [])]:
            client.close()


def _token(server: SecuredServer, caller: Caller) -> str | None:
    if caller.scope is None:
        return None
    return server.mint(caller.scope, patient=caller.patient, fhir_user=caller.fhir_user, role=caller.role)


def _sign_in(matrix: Matrix, username: str, http: httpx.Client) -> str:
    """Authorize and log in as `username` up to the consent page; the pending sign-in's tx, with the
    browser's cookie copied into `http` (the login pages belong to that browser only)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    params = {
        "response_type": "code",
        "client_id": PUBLIC_APP,
        "redirect_uri": REDIRECT,
        "scope": "launch/patient patient/*.rs openid fhirUser",
        "state": secrets.token_hex(4),
        "aud": matrix.server.base_url,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    browser = Browser(matrix.origin)
    try:
        login = browser.open(f"{matrix.origin}/auth/authorize?{urlencode(params)}")
        assert login.status_code == 200, login.text[:500]
        consent = browser.submit(login, {"username": username, "password": PASSWORD})
        assert consent.status_code == 200 and 'action="/auth/consent"' in consent.text, consent.text[:500]
        http.cookies.update(browser.client.cookies)
        form = forms_of(consent.text)[-1]
        return next(value for name, value, _, _ in form.fields if name == "tx")
    finally:
        browser.close()


@contextmanager
def running_matrix(data_dir: Path) -> Iterator[Matrix]:
    running = start_server(
        data_dir, "--demo", "--local-orthanc", env={"FHIR_AUTH_MODE": "smart"}, timeout=180
    )
    connection = connect(Settings(data_dir=data_dir), "cli")
    server = SecuredServer(running, connection)
    matrix = Matrix(server, World(things={}))
    try:
        matrix.operator = matrix.client(server.mint(OPERATOR, role="admin"))
        register_users(matrix.operator)
        with matrix.client(server.mint("system/*.cruds", role=None)) as writer:
            matrix.world = build_world(matrix.operator, writer, seed=secrets.randbits(32))
        for caller in CALLERS.values():
            http = matrix.client(_token(server, caller))
            matrix.clients[caller.name] = http
            if caller.username:
                matrix.sessions[caller.name] = _sign_in(matrix, caller.username, http)
        yield matrix
    finally:
        matrix.close()
        connection.close()
        running.stop()
