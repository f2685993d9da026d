"""A secured server (FHIR_AUTH_MODE=smart) with the demo data — the old app's demo: HOS-001..003, John Doe
PAT-901234 (STU-20240115103000 at HOS-001, STU-20240220091500 at HOS-002), Amina PAT-567890
(STU-20240305140000 at HOS-003), Baraka PAT-112233 (STU-20240410080000 at HOS-001) — for the old API
tests, reached over real HTTP; tokens are minted with the server's own keys."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fhir_server.settings import Settings
from fhir_server.storage.connection import connect
from tests.server_process import SecuredServer, start_server


@pytest.fixture(scope="session")
def legacy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredServer]:
    data_dir = tmp_path_factory.mktemp("legacy-api") / "data"
    running = start_server(data_dir, "--demo", "--no-local-orthanc", env={"FHIR_AUTH_MODE": "smart"})
    connection = connect(Settings(data_dir=data_dir), "cli")
    try:
        yield SecuredServer(running, connection)
    finally:
        connection.close()
        running.stop()
