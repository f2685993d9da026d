"""Shared fixtures: a real server process on the embedded database, reached over real HTTP."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest

from tests.server_process import RunningServer, start_server

# Servers started by the suites run in development mode (anonymous requests allowed, announced loudly), so
# tests of other features need no tokens; this also reaches in-process servers, whose Settings read the
# environment. The SMART tests (tests/fhir_server/security/smart/) start their own servers with
# FHIR_AUTH_MODE=smart.
DEVELOPMENT = {"FHIR_AUTH_MODE": "development"}
os.environ.setdefault("FHIR_AUTH_MODE", "development")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("server") / "data", env=DEVELOPMENT)
    yield running
    running.stop()


@pytest.fixture(scope="session")
def base_url(server: RunningServer) -> str:
    return server.base_url


@pytest.fixture
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=30, headers={"Accept": "application/fhir+json"}) as c:
        yield c
