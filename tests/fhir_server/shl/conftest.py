"""A secured server (FHIR_AUTH_MODE=smart) with the demo data (John Doe, legacy-pat-901234: the studies
legacy-stu-20240115103000 and legacy-stu-20240220091500; Amina, legacy-pat-567890:
legacy-stu-20240305140000) for the SMART Health Link tests, reached over real HTTP; tokens are minted
with the server's own keys."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from server_process import RunningServer, start_server

from fhir_server.auth.keys import KeyStore
from fhir_server.auth.tokens import Grant, mint_access_token
from fhir_server.auth.urls import Urls
from fhir_server.db import DatabaseConnection, connect
from fhir_server.settings import Settings

sys.path.insert(0, str(Path(__file__).parent))


@dataclass
class ShlServer:
    running: RunningServer
    connection: DatabaseConnection

    @property
    def base_url(self) -> str:
        return self.running.base_url

    @property
    def origin(self) -> str:
        return self.base_url.removesuffix("/fhir")

    def mint(
        self,
        scope: str,
        *,
        patient: str | None = None,
        fhir_user: str | None = None,
        role: str | None = "clinician",
    ) -> str:
        grant = Grant("tester", scope, "test", patient, fhir_user, role)
        token, _ = mint_access_token(KeyStore(self.connection.db), Urls.for_base(self.base_url), grant, 600)
        return token

    def client(self, token: str | None) -> httpx.Client:
        headers = {"Accept": "application/fhir+json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30)


@pytest.fixture(scope="session")
def shl_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShlServer]:
    data_dir = tmp_path_factory.mktemp("shl") / "data"
    running = start_server(data_dir, "--demo", "--no-local-orthanc", env={"FHIR_AUTH_MODE": "smart"})
    connection = connect(Settings(data_dir=data_dir), "cli")
    try:
        yield ShlServer(running, connection)
    finally:
        connection.close()
        running.stop()


@pytest.fixture(scope="session")
def clinician(shl_server: ShlServer) -> Iterator[httpx.Client]:
    with shl_server.client(shl_server.mint("user/*.cruds", fhir_user="Practitioner/dr-who")) as c:
        yield c
