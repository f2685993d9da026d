"""A secured server (FHIR_AUTH_MODE=smart) with demo data, its registered apps and users, and helpers to
mint tokens the way `fhir-server token` does (same database, same keys)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from joserfc.jwk import ECKey, RSAKey

from fhir_server.security.oauth.access_tokens import Grant, mint_access_token
from fhir_server.security.oauth.signing_keys import KeyStore
from fhir_server.security.oauth.urls import Urls
from fhir_server.settings import Settings
from fhir_server.storage.connection import DatabaseConnection, connect
from tests.server_process import REPO_ROOT, RunningServer

SMART = {"FHIR_AUTH_MODE": "smart"}
# Building an SSL context per httpx client costs ~50 ms; every client of these tests shares this one.
TLS = ssl.create_default_context()
HTTP = httpx.Client(timeout=30, verify=TLS)
REDIRECT = "http://127.0.0.1:9/callback"  # never contacted: the browser stops at the redirect
PASSWORD = "correct horse battery staple"
PUBLIC_APP = "viewer-app"
SECRET_APP = "secret-app"
BACKEND_RS = "backend-rs384"
BACKEND_ES = "backend-es384"
APP_SCOPE = (
    "launch launch/patient openid fhirUser offline_access online_access admin "
    "patient/*.cruds user/*.cruds patient/*.rs user/*.rs"
)
# Demo data (fhir_server/demo/dataset.py): John Doe has two studies, Amina one; hospitals legacy-hos-00N.
PATIENT_A, PATIENT_B = "legacy-pat-901234", "legacy-pat-567890"
STUDY_A, STUDY_B = "legacy-stu-20240115103000", "legacy-stu-20240305140000"


@dataclass
class JwksHost:
    """Serves a client's JWKS over HTTP (a backend service publishing its keys at a JWKS URL)."""

    jwks: dict[str, Any]
    server: ThreadingHTTPServer | None = None
    hits: int = 0

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"

    def start(self) -> JwksHost:
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                host.hits += 1
                body = json.dumps(host.jwks).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()


@dataclass
class SmartServer:
    running: RunningServer
    connection: DatabaseConnection
    rs384_key: RSAKey
    es384_key: ECKey
    jwks_host: JwksHost
    early_cli_token: str = ""
    secret: str = ""
    _keys: KeyStore = field(init=False)

    def __post_init__(self) -> None:
        self._keys = KeyStore(self.connection.documents)

    @property
    def base_url(self) -> str:
        return self.running.base_url

    @property
    def origin(self) -> str:
        return self.base_url.removesuffix("/fhir")

    @property
    def urls(self) -> Urls:
        return Urls.for_base(self.base_url)

    def mint(
        self,
        scope: str,
        *,
        patient: str | None = None,
        fhir_user: str | None = None,
        role: str | None = "admin",
        lifetime: int = 600,
        aud: str | None = None,
        client_id: str = "test",
        subject: str = "tester",
    ) -> str:
        grant = Grant(subject, scope, client_id, patient, fhir_user, role)
        token, _ = mint_access_token(self._keys, Urls.for_base(aud or self.base_url), grant, lifetime)
        return token

    def client(self, token: str | None) -> httpx.Client:
        headers = {"Accept": "application/fhir+json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30, verify=TLS)

    def admin(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.origin,
            headers={"Authorization": f"Bearer {self.mint('admin system/*.cruds')}"},
            timeout=30,
            verify=TLS,
        )


def register_fixtures(smart: SmartServer) -> None:
    """Users and clients through the admin API, as an EHR operator would."""
    with smart.admin() as admin:
        for user in (
            {"username": "dr-who", "role": "clinician", "fhirUser": "Practitioner/dr-who", "name": "Dr Who"},
            {
                "username": "ingrid",
                "role": "patient",
                "fhirUser": f"Patient/{PATIENT_A}",
                "name": "John Doe",
            },
            {"username": "lars", "role": "patient", "fhirUser": f"Patient/{PATIENT_B}"},
            {"username": "root", "role": "admin"},
        ):
            response = admin.post("/auth/admin/users", json={**user, "password": PASSWORD})
            assert response.status_code == 201, response.text
        clients: list[dict[str, Any]] = [
            {
                "client_id": PUBLIC_APP,
                "client_name": "Imaging Viewer",
                "kind": "public",
                "scope": APP_SCOPE,
                "redirect_uris": [REDIRECT],
            },
            {
                "client_id": SECRET_APP,
                "client_name": "Radiology Reporting",
                "kind": "confidential-symmetric",
                "scope": APP_SCOPE,
                "redirect_uris": [REDIRECT],
            },
            {
                "client_id": BACKEND_RS,
                "client_name": "EHR sync (RS384)",
                "kind": "confidential-asymmetric",
                "scope": "system/*.rs system/ImagingStudy.cruds",
                "jwks": {"keys": [smart.rs384_key.as_dict(private=False)]},
            },
            {
                "client_id": BACKEND_ES,
                "client_name": "Archive (ES384)",
                "kind": "confidential-asymmetric",
                "scope": "system/*.rs",
                "jwks_uri": smart.jwks_host.url,
            },
        ]
        for client in clients:
            response = admin.post("/auth/admin/clients", json=client)
            assert response.status_code == 201, response.text
            if client["kind"] == "confidential-symmetric":
                smart.secret = response.json()["client_secret"]


def run_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "fhir_server", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        input=stdin,
        timeout=120,
        env={**os.environ, **SMART},
    )
    assert result.returncode == 0, result.stderr
    return result


def mint_with_cli(data_dir: Path, scope: str, *extra: str) -> str:
    """`fhir-server token`: the token is the last line of stdout."""
    return (
        run_cli("token", "--data-dir", str(data_dir), "--scope", scope, *extra)
        .stdout.strip()
        .splitlines()[-1]
    )


@contextmanager
def cli_connection(data_dir: Path) -> Iterator[DatabaseConnection]:
    connection = connect(Settings(data_dir=data_dir), "cli")
    try:
        yield connection
    finally:
        connection.close()


def wait_for(predicate: Any, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


# -- the authorization code flow, for tests outside test_app_launch (added for the token lifecycle tests) ----


def pkce() -> tuple[str, str]:
    """A PKCE verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def authorize_url(urls: Urls, scope: str, challenge: str, *, client_id: str = PUBLIC_APP) -> str:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": scope,
        "state": "st-" + secrets.token_hex(4),
        "aud": urls.fhir_base,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    return f"{urls.authorize}?{urlencode(params)}"


def code_flow_tokens(
    urls: Urls,
    browser: Any,  # smart_browser.Browser (which imports this module)
    scope: str,
    username: str,
    *,
    client_id: str = PUBLIC_APP,
    password: str = PASSWORD,
    client_auth: tuple[str, str] | None = None,  # (client_id, secret) of a confidential client
) -> dict[str, Any]:
    """Log in as `username` through the real pages, consent to everything, exchange the code; the token
    response. `scope` must not ask for a patient (no picker is answered)."""
    verifier, challenge = pkce()
    url = authorize_url(urls, scope, challenge, client_id=client_id)
    redirect = browser.authorize(url, username, password)
    assert redirect.status_code == 302, redirect.text
    code = parse_qs(urlsplit(redirect.headers["location"]).query)["code"][0]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    if client_auth is None:
        form["client_id"] = client_id
    response = HTTP.post(urls.token, data=form, auth=client_auth)
    assert response.status_code == 200, response.text
    return dict(response.json())
