"""Fixtures of the identity tests: the world of identity_world, built once per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fhir_server.dicomweb.inprocess_server import InProcessServer
from tests.fhir_server.dicomweb.orthanc_process import OrthancServer, require_orthanc
from tests.fhir_server.patients.identity_world import WEST_NATIONAL_ISSUER, World, register


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    require_orthanc()
    root = tmp_path_factory.mktemp("identity")
    server = InProcessServer(root / "fhir").start()
    east_orthanc = OrthancServer("EAST", root / "east")
    west_orthanc = OrthancServer("WEST", root / "west")
    try:
        east_orthanc.start()
        west_orthanc.start()
        east = register(server, east_orthanc, "HOS-E01", "East Hospital", "patient-id", [])
        west = register(server, west_orthanc, "HOS-W01", "West Clinic", "issuer", [WEST_NATIONAL_ISSUER])
        yield World(server, east, west)
    finally:
        for orthanc in (east_orthanc, west_orthanc):
            if orthanc.process is not None:
                orthanc.process.terminate()
        east_orthanc.stop()
        west_orthanc.stop()
        server.stop()
