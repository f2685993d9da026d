"""What the dashboard tests share with their fixtures: the server under test, its users, the browser."""

from __future__ import annotations

from dataclasses import dataclass

from server_process import RunningServer

from fhir_server.auth.keys import KeyStore
from fhir_server.auth.tokens import Grant, mint_access_token
from fhir_server.auth.urls import Urls
from fhir_server.db import DatabaseConnection

ADMIN = ("ada", "ada-secret-pass")
CLINICIAN = ("carl", "carl-secret-pass")


@dataclass
class DashboardServer:
    running: RunningServer
    connection: DatabaseConnection

    @property
    def base_url(self) -> str:
        return self.running.base_url

    @property
    def origin(self) -> str:
        return self.base_url.removesuffix("/fhir")

    def url(self, path: str) -> str:
        return f"{self.origin}/{path.lstrip('/')}"

    def mint(self, scope: str, *, role: str | None = "clinician") -> str:
        grant = Grant("tester", scope, "test", None, None, role)
        token, _ = mint_access_token(KeyStore(self.connection.db), Urls.for_base(self.base_url), grant, 600)
        return token
