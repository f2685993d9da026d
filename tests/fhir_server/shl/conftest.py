"""A secured server (FHIR_AUTH_MODE=smart) with the demo data (John Doe, legacy-pat-901234: the studies
legacy-stu-20240115103000 and legacy-stu-20240220091500; Amina, legacy-pat-567890:
legacy-stu-20240305140000) for the SMART Health Link tests, reached over real HTTP; tokens are minted
with the server's own keys."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from fhir_server.settings import Settings
from fhir_server.storage.connection import connect
from tests.server_process import SecuredServer, start_server


@pytest.fixture(scope="session")
def shl_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredServer]:
    data_dir = tmp_path_factory.mktemp("shl") / "data"
    running = start_server(data_dir, "--demo", "--no-local-orthanc", env={"FHIR_AUTH_MODE": "smart"})
    connection = connect(Settings(data_dir=data_dir), "cli")
    try:
        yield SecuredServer(running, connection)
    finally:
        connection.close()
        running.stop()


@pytest.fixture(scope="session")
def clinician(shl_server: SecuredServer) -> Iterator[httpx.Client]:
    with shl_server.client(shl_server.mint("user/*.cruds", fhir_user="Practitioner/dr-who")) as c:
        yield c
