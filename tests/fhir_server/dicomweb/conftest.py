"""Fixtures: a FHIR server running in this process, real Orthanc servers, and the shared two-hospital
federation (see federation_setup). A missing Orthanc fails these tests with the install command."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fhir_server.dicomweb.federation_setup import Federation, build_federation
from tests.fhir_server.dicomweb.inprocess_server import InProcessServer
from tests.fhir_server.dicomweb.orthanc_process import OrthancServer, require_orthanc


@pytest.fixture(scope="session")
def fhir_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    require_orthanc()
    server = InProcessServer(tmp_path_factory.mktemp("fhir") / "data").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def orthanc_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[type[OrthancServer]]:
    require_orthanc()
    started: list[OrthancServer] = []

    class Tracked(OrthancServer):
        def start(self) -> OrthancServer:
            started.append(self)
            return super().start()

    yield Tracked
    # Terminate all first, then wait: each Orthanc takes a moment to flush its index on the way out.
    for orthanc in started:
        if orthanc.process is not None:
            orthanc.process.terminate()
    for orthanc in started:
        orthanc.stop()


@pytest.fixture(scope="session")
def federation(
    fhir_server: InProcessServer,
    orthanc_factory: type[OrthancServer],
    tmp_path_factory: pytest.TempPathFactory,
) -> Federation:
    return build_federation(fhir_server, orthanc_factory, tmp_path_factory.mktemp("federation"))
