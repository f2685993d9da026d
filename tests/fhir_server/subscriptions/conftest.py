"""The shared world of the subscription tests (one server, one Orthanc, one receiver for the session):
Astrid's and Ole's first studies are uploaded and synced, which makes their Patients."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fhir_server.dicomweb.orthanc_process import OrthancServer, require_orthanc
from tests.fhir_server.subscriptions.harness import ASTRID, OLE, Receiver, World
from tests.server_process import free_port


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    require_orthanc()
    root = tmp_path_factory.mktemp("subscriptions")
    orthanc = OrthancServer("SUBHOSP", root / "orthanc").start()
    receiver = Receiver().start()
    built = World(root, free_port(), orthanc, receiver)
    try:
        built.start()
        built.register_hospital()
        # Astrid's first study makes her Patient (matched by national ID from then on); Ole's makes his.
        built.upload(ASTRID, "ACC-S-0", "first of Astrid")
        built.upload(OLE, "ACC-O-0", "first of Ole")
        built.sync()
        yield built
    finally:
        built.stop()
        receiver.stop()
        orthanc.stop()


@pytest.fixture(scope="session")
def astrid(world: World) -> str:
    return str(world.study("first of Astrid")["subject"]["reference"]).removeprefix("Patient/")


@pytest.fixture(scope="session")
def ole(world: World) -> str:
    return str(world.study("first of Ole")["subject"]["reference"]).removeprefix("Patient/")
