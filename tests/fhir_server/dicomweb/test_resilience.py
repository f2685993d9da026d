"""Orthanc down or slow: bounded timeouts, 502/503 OperationOutcomes, a sync stopped half-way that the
next one completes, and deleted studies. A third hospital (its own Orthanc) keeps the shared federation
untouched."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pydicom import Dataset

from fhir_server.dicomweb.orthanc.connections import HospitalConnection
from fhir_server.dicomweb.orthanc.errors import NOT_FOUND_MESSAGE
from fhir_server.dicomweb.runtime import sync_services
from fhir_server.dicomweb.sync.runner import sync_hospital
from fhir_server.dicomweb.sync.study import DELETED_STATUS, SYNC_NOTE_AUTHOR
from tests.fhir_server.dicomweb.dicom_samples import SamplePatient, SampleSeries, make_study, to_bytes
from tests.fhir_server.dicomweb.inprocess_server import READ_TIMEOUT, InProcessServer
from tests.fhir_server.dicomweb.orthanc_process import PASSWORD, USER, OrthancServer


@dataclass
class Central:
    server: InProcessServer
    orthanc: OrthancServer
    connection: HospitalConnection
    studies: list[list[Dataset]]


def _register(server: InProcessServer, name: str, identifier: str, url: str) -> dict[str, Any]:
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        response = client.post(
            "/admin/hospitals",
            json={
                "name": name,
                "identifier": identifier,
                "orthancUrl": url,
                "orthancUser": USER,
                "orthancPassword": PASSWORD,
                # Some of these PACS are down or hung on purpose: registered anyway.
                "allowOffline": True,
            },
            headers=server.admin_headers(),
        )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture(scope="module")
def central(
    fhir_server: InProcessServer,
    orthanc_factory: type[OrthancServer],
    tmp_path_factory: pytest.TempPathFactory,
) -> Central:
    orthanc = orthanc_factory("CENTRAL", tmp_path_factory.mktemp("central")).start()
    patient = SamplePatient("C-1", "Nguyen^Mai", "20010720", "F")
    studies = [
        make_study(patient, [SampleSeries("CT_small.dcm", 1)], description=f"CT {n}", accession=f"ACC-C-{n}")
        for n in range(3)
    ]
    for study in studies:
        for dataset in study:
            orthanc.store(to_bytes(dataset))
    _register(fhir_server, "Central Hospital", "HOS-C01", orthanc.url)
    connection = sync_services(fhir_server.services).connections.by_identifier("HOS-C01")
    assert connection is not None
    return Central(fhir_server, orthanc, connection, studies)


class _StopOrthancAfterFirstStudy:
    def __init__(self, orthanc: OrthancServer) -> None:
        self._orthanc = orthanc
        self.done = 0

    def start(self, hospital: HospitalConnection, total: int | None) -> None:
        pass

    def advance(self, hospital: HospitalConnection) -> None:
        self.done += 1
        if self.done == 1:
            self._orthanc.stop()

    def finish(self, hospital: HospitalConnection) -> None:
        pass


def _study(central: Central, study: list[Dataset]) -> httpx.Response:
    from fhir_server.dicomweb import ids

    study_id = ids.study_id(central.connection.wado_endpoint_id, str(study[0].StudyInstanceUID))
    return httpx.get(
        f"{central.server.base_url}/fhir/ImagingStudy/{study_id}", headers=central.server.bearer(), timeout=30
    )


def test_orthanc_stopped_mid_sync_gives_a_clean_error_and_a_later_sync_completes(central: Central) -> None:
    services = sync_services(central.server.services)
    stopper = _StopOrthancAfterFirstStudy(central.orthanc)
    result = sync_hospital(services, central.connection, progress=stopper)
    assert not result.completed
    assert result.created == 1
    assert result.failure is not None and "not reachable" in result.failure
    assert services.state.get(central.connection.organization_id).last_error == result.failure

    # While it is down: the CLI fails cleanly, the proxy answers 503, health says down.
    down = central.server.cli("sync", "--hospital", "HOS-C01")
    assert down.returncode == 1
    assert "error: Central Hospital: the Orthanc of Central Hospital is not reachable" in down.stderr
    assert "Traceback" not in down.stderr
    proxied = httpx.get(
        f"{central.server.base_url}/dicomweb/{central.connection.qido_endpoint_id}/studies",
        headers=central.server.bearer(),
    )
    assert proxied.status_code == 503
    assert proxied.json()["issue"][0]["code"] == "transient"
    assert "Central Hospital" not in proxied.text  # the operator's diagnosis is logged, not relayed
    health = httpx.get(
        f"{central.server.base_url}/health/orthanc", headers=central.server.bearer(), timeout=30
    ).json()
    entry = next(h for h in health["hospitals"] if h["identifier"] == "HOS-C01")
    assert entry["status"] == "down" and "not reachable" in entry["error"]
    assert health["status"] in ("warn", "fail")

    central.orthanc.start()
    again = central.server.cli("sync", "--hospital", "HOS-C01")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "2 studies created, 0 updated, 1 unchanged" in again.stdout
    for study in central.studies:
        stored = _study(central, study)
        assert stored.status_code == 200 and stored.json()["meta"]["versionId"] == "1"
    assert services.state.get(central.connection.organization_id).last_error is None


def test_deleted_study_is_kept_with_status_registered(central: Central) -> None:
    gone = central.studies[0]
    lookup = httpx.post(
        f"{central.orthanc.url}/tools/lookup",
        content=str(gone[0].StudyInstanceUID),
        auth=central.orthanc.auth,
    )
    central.orthanc.delete_study(lookup.json()[0]["ID"])
    synced = central.server.cli("sync", "--hospital", "HOS-C01")
    assert synced.returncode == 0, synced.stderr
    assert "1 marked deleted" in synced.stdout
    study = _study(central, gone).json()
    assert study["status"] == DELETED_STATUS == "registered"
    assert study["meta"]["versionId"] == "2"
    assert [n["authorString"] for n in study["note"]] == [SYNC_NOTE_AUTHOR]
    assert study["series"][0]["instance"][0]["uid"] == gone[0].SOPInstanceUID  # the record is kept whole
    quiet = central.server.cli("sync", "--hospital", "HOS-C01")
    assert "0 marked deleted" in quiet.stdout
    assert _study(central, gone).json()["meta"]["versionId"] == "2"
    # The images are gone from the PACS: the proxy says so, as an OperationOutcome.
    base = f"{central.server.base_url}/dicomweb/{central.connection.wado_endpoint_id}"
    response = httpx.get(
        f"{base}/studies/{gone[0].StudyInstanceUID}/metadata", headers=central.server.bearer(), timeout=30
    )
    assert response.status_code == 404
    assert response.json()["issue"][0]["diagnostics"] == NOT_FOUND_MESSAGE


@pytest.fixture
def black_hole() -> Iterator[str]:
    """A TCP server that accepts connections and never answers: an Orthanc hung on a slow disk."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    listener.close()


def test_slow_orthanc_is_a_503_with_retry_after(fhir_server: InProcessServer, black_hole: str) -> None:
    body = _register(fhir_server, "Slow Hospital", "HOS-SLOW", black_hole)
    qido = body["endpoints"][1].removeprefix("Endpoint/")
    started = time.monotonic()
    response = httpx.get(
        f"{fhir_server.base_url}/dicomweb/{qido}/studies", headers=fhir_server.bearer(), timeout=30
    )
    elapsed = time.monotonic() - started
    # SMART Imaging Access: a slow PACS gets 503 with Retry-After, and the client repeats the request.
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) > 0
    assert response.json()["issue"][0]["code"] == "transient"
    assert elapsed < READ_TIMEOUT + 5
    health = httpx.get(
        f"{fhir_server.base_url}/health/orthanc", headers=fhir_server.bearer(), timeout=30
    ).json()
    entry = next(h for h in health["hospitals"] if h["identifier"] == "HOS-SLOW")
    assert entry["status"] == "down" and "did not answer" in entry["error"]
    services = sync_services(fhir_server.services)
    slow = services.connections.by_identifier("HOS-SLOW")
    assert slow is not None
    result = sync_hospital(services, slow)
    assert result.failure is not None and "did not answer" in result.failure


def test_wrong_orthanc_credentials_are_a_502_and_a_failed_sync(
    central: Central, caplog: pytest.LogCaptureFixture
) -> None:
    server = central.server
    with httpx.Client(base_url=server.base_url, timeout=30, headers=server.admin_headers()) as client:
        response = client.post(
            "/admin/hospitals",
            json={
                "name": "Misconfigured Hospital",
                "identifier": "HOS-BADPW",
                "orthancUrl": central.orthanc.url,
                "orthancUser": USER,
                "orthancPassword": "not-the-password",
                "allowOffline": True,  # else refused before saving (see test_hospital_admin.py)
            },
        )
    assert response.status_code == 201, response.text
    qido = response.json()["endpoints"][1].removeprefix("Endpoint/")
    with caplog.at_level(logging.WARNING, logger="fhir_server.dicomweb.orthanc.errors"):
        proxied = httpx.get(f"{server.base_url}/dicomweb/{qido}/studies", headers=server.bearer(), timeout=30)
    assert proxied.status_code == 502
    # The client learns that the PACS failed, not why: the diagnosis names the hospital and its configuration.
    diagnostics = proxied.json()["issue"][0]["diagnostics"]
    assert "X-Request-ID" in diagnostics
    for secret in ("refused", "credentials", "Misconfigured Hospital", "401", "not-the-password"):
        assert secret not in proxied.text
    # The operator finds it in the log under the request id the client got.
    rid = proxied.headers["x-request-id"]
    logged = [r.getMessage() for r in caplog.records if rid in r.getMessage()]
    assert logged and "the Orthanc of Misconfigured Hospital refused our credentials (HTTP 401)" in logged[0]
    synced = server.cli("sync", "--hospital", "HOS-BADPW")
    assert synced.returncode == 1
    assert "refused our credentials" in synced.stderr and "Traceback" not in synced.stderr
