"""Fixtures of the SMART on FHIR tests: one secured server (FHIR_AUTH_MODE=smart) with the demo data set,
registered apps, users and backend services, shared by the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from joserfc.jwk import ECKey, RSAKey

from tests import server_process
from tests.fhir_server.security.smart.smart_browser import Browser
from tests.fhir_server.security.smart.smart_support import (
    SMART,
    JwksHost,
    SmartServer,
    cli_connection,
    mint_with_cli,
    register_fixtures,
)
from tests.server_process import start_server


@pytest.fixture(scope="session")
def smart(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmartServer]:
    data_dir = tmp_path_factory.mktemp("smart") / "data"
    # A token minted on the data dir before the server ever ran must be accepted by it (test_cli).
    port = server_process.free_port()
    early = mint_with_cli(data_dir, "system/*.rs", "--aud", f"http://127.0.0.1:{port}/fhir")
    patch = pytest.MonkeyPatch()
    patch.setattr(server_process, "free_port", lambda: port)
    try:
        running = start_server(data_dir, "--demo", "--no-local-orthanc", env=SMART)
    finally:
        patch.undo()
    rs384 = RSAKey.generate_key(2048, parameters={"kid": "rs-1", "alg": "RS384"})
    es384 = ECKey.generate_key("P-384", parameters={"kid": "es-1", "alg": "ES384"})
    host = JwksHost({"keys": [es384.as_dict(private=False)]}).start()
    try:
        with cli_connection(data_dir) as connection:
            server = SmartServer(running, connection, rs384, es384, host, early_cli_token=early)
            register_fixtures(server)
            yield server
    finally:
        host.stop()
        running.stop()


@pytest.fixture
def browser(smart: SmartServer) -> Iterator[Browser]:
    b = Browser(smart.origin)
    yield b
    b.close()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "search_enforcement: search must not leak another patient's data (fails until search calls "
        "fhir_server.security.enforcement.checks; never skipped)",
    )
