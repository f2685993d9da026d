"""The server syncs by itself: a study stored in a hospital's Orthanc (STOW-RS, as a modality or RIS would
send it) appears as an ImagingStudy without anyone running a command; a PACS that goes down is reported
(since when, how many passes failed) and retried ever later, and recovers on its own."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fhir_server.dicomweb import ids
from fhir_server.dicomweb.orthanc.upload import upload_datasets
from fhir_server.dicomweb.runtime import JITTER, SyncSchedule, sync_services
from fhir_server.settings import Settings
from tests.fhir_server.dicomweb.dicom_samples import SamplePatient, SampleSeries, make_study
from tests.fhir_server.dicomweb.inprocess_server import InProcessServer
from tests.fhir_server.dicomweb.orthanc_process import PASSWORD, USER, OrthancServer

IDENTIFIER = "HOS-AUTO"
INTERVAL = 1.0


@pytest.fixture(scope="module")
def looping(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    server = InProcessServer(tmp_path_factory.mktemp("auto-sync") / "data", sync_interval_seconds=INTERVAL)
    yield server.start()
    server.stop()


@pytest.fixture(scope="module")
def orthanc(
    looping: InProcessServer, orthanc_factory: type[OrthancServer], tmp_path_factory: pytest.TempPathFactory
) -> OrthancServer:
    started = orthanc_factory("AUTO", tmp_path_factory.mktemp("auto-orthanc")).start()
    response = httpx.post(
        f"{looping.base_url}/admin/hospitals",
        json={
            "name": "Auto Sync Hospital",
            "identifier": IDENTIFIER,
            "orthancUrl": started.url,
            "orthancUser": USER,
            "orthancPassword": PASSWORD,
        },
        headers=looping.admin_headers(),
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return started


def _until(condition: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {seconds:.0f} s")


def _status(server: InProcessServer) -> dict[str, Any]:
    body = httpx.get(f"{server.base_url}/app/api/hospitals", headers=server.bearer(), timeout=30).json()
    entry: dict[str, Any] = next(h for h in body["hospitals"] if h["identifier"] == IDENTIFIER)
    return {**entry, "syncIntervalSeconds": body["syncIntervalSeconds"]}


def test_a_study_sent_to_the_pacs_appears_without_any_command(
    looping: InProcessServer, orthanc: OrthancServer
) -> None:
    hospital = sync_services(looping.services).connections.by_identifier(IDENTIFIER)
    assert hospital is not None
    study = make_study(
        SamplePatient("AUTO-1", "Otieno^Baraka", "19951010", "M"),
        [SampleSeries("CT_small.dcm", 1, instances=2)],
        description="CT abdomen",
        accession="ACC-AUTO-1",
    )
    stored = upload_datasets(hospital, looping.settings, study)  # STOW-RS straight to Orthanc
    assert stored.stored == 2 and not stored.errors
    study_id = ids.study_id(hospital.wado_endpoint_id, study[0].StudyInstanceUID)
    url = f"{looping.base_url}/fhir/ImagingStudy/{study_id}"

    def synced() -> dict[str, Any] | None:
        response = httpx.get(url, headers=looping.bearer(), timeout=30)
        return response.json() if response.status_code == 200 else None

    found = _until(synced, 30, "the study in FHIR")
    assert found["numberOfInstances"] == 2 and found["description"] == "CT abdomen"
    status = _status(looping)
    assert status["syncIntervalSeconds"] == INTERVAL
    assert status["lastSync"] and status["consecutiveFailures"] == 0 and status["failingSince"] is None


def test_a_pacs_that_goes_down_is_reported_backed_off_and_recovers(
    looping: InProcessServer, orthanc: OrthancServer
) -> None:
    orthanc.stop()
    try:
        failing = _until(
            lambda: (s := _status(looping))["consecutiveFailures"] >= 2 and s, 30, "2 failed passes"
        )
        assert failing["failingSince"] and "not reachable" in failing["lastSyncError"]
        since = failing["failingSince"]
        # Backed off: with a 1 s interval, 2, 4, 8… s between attempts, so a few seconds later there are
        # far fewer failures than seconds went by; and the outage still counts from its first failure.
        time.sleep(4)
        later = _status(looping)
        assert later["consecutiveFailures"] <= failing["consecutiveFailures"] + 2
        assert later["failingSince"] == since
    finally:
        orthanc.start()
    recovered = _until(lambda: (s := _status(looping))["consecutiveFailures"] == 0 and s, 60, "recovery")
    assert recovered["failingSince"] is None and recovered["lastSyncError"] is None


def test_schedule_spreads_passes_and_backs_off_exponentially(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, dicomweb_sync_interval_seconds=60, dicomweb_sync_max_backoff_seconds=600
    )
    schedule = SyncSchedule(settings, random.Random(7))
    for failures, base in [(0, 60), (1, 120), (2, 240), (3, 480), (4, 600), (40, 600)]:
        delays = [schedule.delay(failures) for _ in range(200)]
        assert all(base * (1 - JITTER) <= d <= base * (1 + JITTER) for d in delays), failures
        assert max(delays) - min(delays) > base * JITTER  # jittered, not in step
