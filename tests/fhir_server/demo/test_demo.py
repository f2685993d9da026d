"""The demo data set: the old app's 3 hospitals / 3 patients / 4 studies, FHIR-only without Orthanc and with
real DICOM in one local Orthanc per hospital when Orthanc is installed (it is, in CI: never skipped)."""

from __future__ import annotations

import json
import signal
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fhir_server.app import build_services
from fhir_server.demo.dataset import demo_studies
from fhir_server.demo.loader import CREDENTIALS_FILE
from fhir_server.demo.local_orthanc import INSTALL_HINT, missing_orthanc
from fhir_server.dicomweb.orthanc.connections import ConnectionStore
from fhir_server.dicomweb.sync.state import SyncStateStore
from fhir_server.master_key import MasterKey
from fhir_server.security.accounts.users import UserRegistry
from fhir_server.settings import Settings
from fhir_server.storage.connection import connect
from fhir_server.storage.mongo import MongoRepository
from tests.server_process import run_cli, start_server

NATIONAL_ID = "199012345678901234"
STUDY_MODALITIES = {
    "legacy-stu-20240115103000": "DX",
    "legacy-stu-20240220091500": "CT",
    "legacy-stu-20240305140000": "US",
    "legacy-stu-20240410080000": "DX",
}


def current(repository: MongoRepository, resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        v.resource["id"]: v.resource
        for v in repository.find_current(resource_type, {})
        if v.resource is not None and not v.deleted
    }


@pytest.fixture
def open_data_dir() -> Iterator[Any]:
    opened: list[Any] = []

    def open_(data_dir: Path) -> Any:
        connection = connect(Settings(data_dir=data_dir), "cli")
        opened.append(connection)
        return build_services(Settings(data_dir=data_dir), connection)

    yield open_
    for connection in opened:
        connection.close()


def test_without_orthanc_the_fhir_data_is_complete_and_images_are_reported_missing(
    tmp_path: Path, open_data_dir: Any
) -> None:
    data = tmp_path / "data"
    first = run_cli("demo", "--data-dir", str(data), "--no-local-orthanc")
    assert first.returncode == 0, first.stderr
    assert "demo data: 13 resources created" in first.stdout
    assert "images missing" in first.stdout
    assert first.stdout.count("no Orthanc configured") == 4
    again = run_cli("demo", "--data-dir", str(data), "--no-local-orthanc")
    assert "demo data: already loaded" in again.stdout

    services = open_data_dir(data)
    repository = services.repository
    orgs = current(repository, "Organization")
    assert {o["name"] for o in orgs.values()} == {
        "General Hospital",
        "Regional Referral Hospital",
        "Coastal Imaging Centre",
    }
    patients = current(repository, "Patient")
    assert set(patients) == {"legacy-pat-901234", "legacy-pat-567890", "legacy-pat-112233"}
    john = patients["legacy-pat-901234"]
    assert any(i["value"] == NATIONAL_ID for i in john["identifier"])
    assert john["name"][0]["family"] == "Doe"
    studies = current(repository, "ImagingStudy")
    assert {k: v["modality"][0]["code"] for k, v in studies.items()} == STUDY_MODALITIES
    assert all(
        v["version"] == 1 for v in [{"version": int(s["meta"]["versionId"])} for s in studies.values()]
    )
    # Every study points at its hospital's Endpoint, which names the hospital.
    endpoints = current(repository, "Endpoint")
    for study in studies.values():
        endpoint = endpoints[study["endpoint"][0]["reference"].split("/")[1]]
        assert endpoint["managingOrganization"]["reference"].startswith("Organization/legacy-hos-")


def test_demo_users_are_created_once_with_private_credentials(tmp_path: Path, open_data_dir: Any) -> None:
    data = tmp_path / "data"
    result = run_cli("demo", "--data-dir", str(data), "--no-local-orthanc")
    assert result.returncode == 0, result.stderr
    path = data / CREDENTIALS_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    credentials = json.loads(path.read_text())
    assert set(credentials) == {"demo-admin", "demo-clinician"}
    for user, password in credentials.items():
        assert f"sign in to /app as {user} / {password}" in result.stdout
    again = run_cli("demo", "--data-dir", str(data), "--no-local-orthanc")
    assert json.loads(path.read_text()) == credentials  # not reset
    assert f"demo-admin / {credentials['demo-admin']}" in again.stdout
    users = UserRegistry(open_data_dir(data).connection.documents)
    admin = users.authenticate("demo-admin", credentials["demo-admin"])
    clinician = users.authenticate("demo-clinician", credentials["demo-clinician"])
    assert admin is not None and admin.role == "admin"
    assert clinician is not None and clinician.role == "clinician"


def test_an_unreachable_orthanc_is_reported_and_the_fhir_data_still_loads(
    tmp_path: Path, open_data_dir: Any
) -> None:
    data = tmp_path / "data"
    result = run_cli("demo", "--data-dir", str(data), "--orthanc", "http://127.0.0.1:9")
    assert result.returncode == 0, result.stderr
    assert "General Hospital: Orthanc at http://127.0.0.1:9 not reachable" in result.stdout
    assert result.stdout.count("Orthanc not reachable") == 2  # HOS-001's two studies
    assert result.stdout.count("no Orthanc configured") == 2  # the other hospitals were given none
    services = open_data_dir(data)
    assert len(current(services.repository, "ImagingStudy")) == 4
    # The hospital is registered with that address, so a later `sync` or `doctor` can reach it when it is up.
    hospital = ConnectionStore(services.connection.documents, MasterKey.load_or_create(data)).by_identifier(
        "HOS-001"
    )
    assert hospital is not None and hospital.orthanc_url == "http://127.0.0.1:9"


def test_too_many_orthanc_urls_are_refused(tmp_path: Path) -> None:
    urls = [arg for n in range(4) for arg in ("--orthanc", f"http://127.0.0.1:{9000 + n}")]
    result = run_cli("demo", "--data-dir", str(tmp_path / "data"), *urls)
    assert result.returncode != 0 and "at most 3 --orthanc URLs" in result.stderr


@pytest.fixture(scope="module")
def demo_with_images(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    if missing := missing_orthanc():
        pytest.fail(f"the demo tests need Orthanc ({missing} missing): {INSTALL_HINT}", pytrace=False)
    data = tmp_path_factory.mktemp("demo") / "data"
    result = run_cli("demo", "--data-dir", str(data))  # local Orthancs: the default when installed
    assert result.returncode == 0, result.stderr + result.stdout
    return data, result.stdout


def test_studies_are_real_dicom_synced_back_from_orthanc(
    demo_with_images: tuple[Path, str], open_data_dir: Any
) -> None:
    data, output = demo_with_images
    assert "images missing" not in output
    assert output.count("instances uploaded to") == 4
    services = open_data_dir(data)
    studies = current(services.repository, "ImagingStudy")
    assert set(studies) == set(STUDY_MODALITIES)  # the sync updated the demo's studies, added none
    for study in demo_studies():
        resource = studies[study.fhir_id]
        expected = sum(series.instances for series in study.series)
        assert resource["numberOfInstances"] == expected and len(resource["series"]) == len(study.series)
        assert resource["modality"][0]["code"] == STUDY_MODALITIES[study.fhir_id]
        systems = {i.get("system") for i in resource["identifier"]}
        assert "urn:dicom:uid" in systems  # the UID Orthanc holds
        assert any(i.get("value") == study.legacy_id for i in resource["identifier"])  # the old id kept
        assert resource["subject"]["reference"] == f"Patient/{_fhir_id(study.patient.patient_id)}"
        assert resource["description"] == study.description
        assert resource["started"].startswith(
            f"{study.started[0][:4]}-{study.started[0][4:6]}-{study.started[0][6:]}"
        )
    # A completed sync pass per hospital: the dashboard's "last sync" and the sync-lag metric have a value.
    state = SyncStateStore(services.connection.documents)
    for org in ("legacy-hos-001", "legacy-hos-002", "legacy-hos-003"):
        assert state.get(org).last_completed_at is not None
    # Matched by national ID: no Patient created from the DICOM headers.
    assert set(current(services.repository, "Patient")) == {
        "legacy-pat-901234",
        "legacy-pat-567890",
        "legacy-pat-112233",
    }


def test_a_second_demo_run_uploads_nothing_again(demo_with_images: tuple[Path, str]) -> None:
    data, _ = demo_with_images
    again = run_cli("demo", "--data-dir", str(data))
    assert again.returncode == 0, again.stderr
    assert "demo data: already loaded" in again.stdout
    assert again.stdout.count("images already in") == 4 and "uploaded" not in again.stdout


def test_served_demo_runs_local_orthancs_that_die_with_the_server(
    demo_with_images: tuple[Path, str],
) -> None:
    data, _ = demo_with_images
    server = start_server(data, "--demo", env={"FHIR_AUTH_MODE": "development"})
    try:
        health = httpx.get(server.base_url.removesuffix("/fhir") + "/health/orthanc", timeout=30).json()
        assert health["status"] == "pass"
        assert {h["identifier"]: h["status"] for h in health["hospitals"]} == {
            "HOS-001": "up",
            "HOS-002": "up",
            "HOS-003": "up",
        }
        assert all(h["dicomweb"] for h in health["hospitals"])
        orthancs = _orthanc_children(server.process.pid)
        assert len(orthancs) == 3
        study = httpx.get(f"{server.base_url}/ImagingStudy/legacy-stu-20240220091500", timeout=10).json()
        assert study["numberOfInstances"] == 5
    finally:
        server.stop(signal.SIGKILL)
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in orthancs) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in orthancs if _alive(pid)], "local Orthancs outlived a killed server"


def _fhir_id(legacy_id: str) -> str:
    return "legacy-" + legacy_id.lower()


def _orthanc_children(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat_fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            continue
        if int(stat_fields[1]) == pid and command.endswith(b"Orthanc"):
            children.append(int(entry.name))
    return children


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_demo_studies_match_the_rows_they_come_from() -> None:
    studies = {s.legacy_id: s for s in demo_studies()}
    john = studies["STU-20240115103000"].patient
    assert (john.patient_id, john.name, john.birth_date, john.national_id) == (
        "PAT-901234",
        "Doe^John",
        "19900515",
        NATIONAL_ID,
    )
    assert studies["STU-20240220091500"].started == ("20240220", "091500", "+0300")
    assert all(len(s.accession) <= 16 for s in studies.values())  # DICOM SH
    assert all(s.fhir_id == "legacy-" + s.legacy_id.lower() for s in studies.values())
