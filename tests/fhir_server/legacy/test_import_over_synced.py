"""`import-legacy` onto a data dir holding the demo with real DICOM (local Orthanc, synced): imports never
downgrade. DICOM-derived studies keep their Study Instance UID, series and instances, registered Endpoints
keep their addresses, legacy values only fill gaps, conflicts are report rows, `--dry-run` writes nothing,
and afterwards every demo study's images load through the server's DICOMweb proxy.

One demo + dry run + import + re-import per module; the tests read what each step left. The last test
starts `serve --demo` on the imported data dir (it restarts the local Orthancs) and loads the images."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import pytest

from fhir_server.demo.dataset import demo_studies
from fhir_server.demo.local_orthanc import INSTALL_HINT, missing_orthanc
from fhir_server.resource_types import MODELS
from fhir_server.search.index import SearchIndexer
from fhir_server.settings import Settings
from fhir_server.storage.connection import connect
from fhir_server.storage.mongo import MongoRepository
from tests.server_process import REPO_ROOT, SecuredServer, run_cli, start_server

LEGACY_DB = REPO_ROOT.parent / "shared" / "data" / "legacy-federation.db"
DICOM_UID = "urn:dicom:uid"
ORTHANC_STUDY_ID = "https://fhir.imaging-federation.example/sid/orthanc-study-id"
# A demo study whose DICOM is made to lack a Study Description: the gap its legacy description fills.
GAP_STUDY = "legacy-stu-20240410080000"
HOSPITALS = ("legacy-hos-001", "legacy-hos-002", "legacy-hos-003")
FRAMES_ACCEPT = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
SOP_INSTANCE_UID, SERIES_INSTANCE_UID = "00080018", "0020000E"
ROWS, COLUMNS = "00280010", "00280011"
# What the import adds to the demo's 13 resources (3 Organizations, 3 Endpoints, 3 Patients, 4 studies):
# the shared database's 214 resources minus those.
NEW_RESOURCES = 201

Resources = dict[tuple[str, str], dict[str, Any]]


@dataclass(frozen=True)
class Snapshot:
    resources: Resources  # current resources without meta, by (type, id)
    versions: int  # every stored version of every type: a write of any kind adds one
    version_ids: dict[tuple[str, str], str]  # meta.versionId of each current resource, by (type, id)

    def of(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {i: r for (t, i), r in self.resources.items() if t == resource_type}


@dataclass(frozen=True)
class Scenario:
    data: Path
    before: Snapshot
    dry_run: subprocess.CompletedProcess[str]
    dry_report: dict[str, Any]
    after_dry_run: Snapshot
    imported: subprocess.CompletedProcess[str]
    report: dict[str, Any]
    after: Snapshot
    again: subprocess.CompletedProcess[str]
    after_again: Snapshot


@contextmanager
def repository_of(data: Path) -> Iterator[MongoRepository]:
    """The data dir's database, started by this process: the CLI runs meanwhile attach to it instead of
    each starting their own (most of a run's time)."""
    connection = connect(Settings(data_dir=data), "cli")
    try:
        indexer = SearchIndexer([""])
        yield MongoRepository(connection, list(MODELS), indexer.index_values)
    finally:
        connection.close()


def snapshot(repository: MongoRepository) -> Snapshot:
    resources: Resources = {}
    version_ids: dict[tuple[str, str], str] = {}
    for resource_type in ("Organization", "Endpoint", "Patient", "ImagingStudy"):
        for version in repository.find_current(resource_type, {}):
            assert version.resource is not None
            resources[(resource_type, version.id)] = {
                k: v for k, v in version.resource.items() if k != "meta"
            }
            version_ids[(resource_type, version.id)] = str(version.version)
    versions = sum(repository.collection(t).count_documents({}) for t in MODELS)
    return Snapshot(resources, versions, version_ids)


def run_import(data: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "fhir_server",
            "import-legacy",
            str(LEGACY_DB),
            "--data-dir",
            str(data),
            *extra,
        ],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result


def drop_description(repository: MongoRepository, study_id: str) -> None:
    """As if the PACS had sent the study without Study Description (0008,1030)."""
    current = repository.read("ImagingStudy", study_id)
    assert current is not None and current.resource is not None
    resource = {k: v for k, v in current.resource.items() if k not in ("description", "meta")}
    repository.update(resource, expected_version=current.version)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    if missing := missing_orthanc():
        pytest.fail(f"these tests need Orthanc ({missing} missing): {INSTALL_HINT}", pytrace=False)
    root = tmp_path_factory.mktemp("import-over-demo")
    data = root / "data"
    demo = run_cli("demo", "--data-dir", str(data))  # local Orthancs: upload, then a sync pass
    assert demo.returncode == 0 and "images missing" not in demo.stdout, demo.stderr + demo.stdout
    with repository_of(data) as repository:
        drop_description(repository, GAP_STUDY)
        before = snapshot(repository)
        dry_run = run_import(data, "--dry-run", "--report", str(root / "dry-report"))
        after_dry_run = snapshot(repository)
        imported = run_import(data)
        after = snapshot(repository)
        again = run_import(data)
        taken = Scenario(
            data=data,
            before=before,
            dry_run=dry_run,
            dry_report=json.loads((root / "dry-report.json").read_text()),
            after_dry_run=after_dry_run,
            imported=imported,
            report=json.loads((data / "legacy-import-report.json").read_text()),
            after=after,
            again=again,
            after_again=snapshot(repository),
        )
    # Every snapshot is taken: the data dir's database is released, so a server may start on it (`served`).
    yield taken


def test_dry_run_says_what_would_change_and_writes_nothing(scenario: Scenario) -> None:
    out = scenario.dry_run.stdout
    assert "4 studies from DICOM: legacy description added to 1, nothing overwritten; 1 conflict row" in out
    assert "3 Endpoints from hospital registration: nothing added, nothing overwritten" in out
    assert f"dry run, nothing written: would create {NEW_RESOURCES}, update 1, leave 12 unchanged" in out
    assert scenario.after_dry_run == scenario.before
    assert scenario.dry_report["dry_run"] is True
    assert scenario.dry_report["kept"]["ImagingStudy"] == {
        "source": "DICOM",
        "resources": 4,
        "added": {"description": 1},
        "conflicts": 1,
    }


def test_every_demo_study_keeps_its_dicom_content(scenario: Scenario) -> None:
    before, after = scenario.before.of("ImagingStudy"), scenario.after.of("ImagingStudy")
    for study in demo_studies():
        kept, now = before[study.fhir_id], after[study.fhir_id]
        assert [i for i in now["identifier"] if i.get("system") == DICOM_UID] == [
            i for i in kept["identifier"] if i.get("system") == DICOM_UID
        ], study.fhir_id
        assert now["series"] == kept["series"] and len(now["series"]) == len(study.series)
        assert now["numberOfInstances"] == sum(s.instances for s in study.series)
        for element in ("numberOfSeries", "modality", "started", "subject", "endpoint", "status"):
            assert now[element] == kept[element], (study.fhir_id, element)
        assert any(i.get("value") == study.legacy_id for i in now["identifier"])
        if study.fhir_id != GAP_STUDY:
            assert now == kept, study.fhir_id  # nothing to add: the demo's DICOM has every legacy value


def test_a_gap_in_the_dicom_is_filled_with_the_legacy_value(scenario: Scenario) -> None:
    before = scenario.before.of("ImagingStudy")[GAP_STUDY]
    after = scenario.after.of("ImagingStudy")[GAP_STUDY]
    assert "description" not in before
    assert after == {**before, "description": "Left wrist X-Ray"}
    assert (
        "4 studies from DICOM: legacy description added to 1, nothing overwritten" in scenario.imported.stdout
    )


def test_endpoints_and_organizations_keep_their_registration(scenario: Scenario) -> None:
    assert scenario.after.of("Endpoint") == scenario.before.of("Endpoint")
    for hospital in HOSPITALS:
        endpoint = scenario.after.of("Endpoint")[f"{hospital}-dicomweb"]
        assert endpoint["address"].endswith(f"/dicomweb/{hospital}-dicomweb")
        assert endpoint["status"] == "active"
        organization = scenario.after.of("Organization")[hospital]
        assert organization == scenario.before.of("Organization")[hospital]
        assert {"reference": f"Endpoint/{hospital}-dicomweb"} in organization["endpoint"]


def test_every_conflict_is_a_row_of_the_report(scenario: Scenario) -> None:
    conflicts = [i for i in scenario.report["issues"] if i["severity"] == "conflict"]
    assert sorted((i["table"], i["row_id"], i["field"]) for i in conflicts) == [
        ("hospitals", "HOS-001", None),
        ("hospitals", "HOS-002", None),
        ("hospitals", "HOS-003", None),
        ("studies", "STU-20240115103000", "orthanc_study_id"),
    ]
    (study,) = [i for i in conflicts if i["table"] == "studies"]
    synced_id = next(
        i["value"]
        for i in scenario.after.of("ImagingStudy")["legacy-stu-20240115103000"]["identifier"]
        if i.get("system") == ORTHANC_STUDY_ID
    )
    assert f"kept {ORTHANC_STUDY_ID}|{synced_id} from DICOM" in study["reason"]
    assert f"legacy value {ORTHANC_STUDY_ID}|orthanc-id-123 is not applied" in study["reason"]
    for row in [i for i in conflicts if i["table"] == "hospitals"]:
        assert "urn:legacy:unknown-dicomweb" in row["reason"] and "keeps address 'http" in row["reason"]
    csv = (scenario.data / "legacy-import-report.csv").read_text()
    assert csv.count(",conflict,") == 4


def test_legacy_rows_without_stored_data_are_imported(scenario: Scenario) -> None:
    assert f"created {NEW_RESOURCES}, updated 1, unchanged 12" in scenario.imported.stdout
    assert len(scenario.after.resources) == len(scenario.before.resources) + NEW_RESOURCES
    assert scenario.after.versions == scenario.before.versions + NEW_RESOURCES + 1


def test_a_second_import_changes_nothing(scenario: Scenario) -> None:
    out = scenario.again.stdout
    assert f"created 0, updated 0, unchanged {NEW_RESOURCES + 13}" in out
    assert "4 studies from DICOM: nothing added, nothing overwritten; 1 conflict row" in out
    assert scenario.after_again == scenario.after


@pytest.fixture(scope="module")
def served(scenario: Scenario) -> Iterator[SecuredServer]:
    """`serve --demo` on the imported data dir, secured: the local Orthancs start again (as children of the
    server) and the demo load, idempotent, only re-registers their new addresses and syncs."""
    running = start_server(scenario.data, "--demo", env={"FHIR_AUTH_MODE": "smart"}, timeout=120)
    try:
        # Attaches to the server's database (no second one): for the server's own signing keys.
        connection = connect(Settings(data_dir=scenario.data), "cli")
        try:
            yield SecuredServer(running, connection)
        finally:
            connection.close()
    finally:
        running.stop()


def frames_of(response: httpx.Response) -> list[bytes]:
    """The parts of a multipart/related WADO-RS answer, each without its headers."""
    header = Message()
    header["content-type"] = response.headers["content-type"]
    assert header.get_content_type() == "multipart/related", response.headers["content-type"]
    delimiter = b"--" + str(header.get_param("boundary")).encode()
    parts = response.content.split(delimiter)[1:-1]  # before the first and from the closing one: no part
    return [part.split(b"\r\n\r\n", 1)[1].removesuffix(b"\r\n") for part in parts]


def frame_size(instance: dict[str, Any]) -> int:
    """Bytes of one uncompressed frame (the demo's samples are uncompressed)."""
    value = {tag: instance[tag]["Value"][0] for tag in (ROWS, COLUMNS, "00280002", "00280100")}
    return int(value[ROWS] * value[COLUMNS] * value["00280002"] * value["00280100"] // 8)


def served_as_imported(fhir: httpx.Client, imported: Snapshot, fhir_id: str) -> dict[str, Any]:
    """The ImagingStudy as the server serves it, asserted to be the very version the import left: a sync
    that repaired a downgraded study (at start-up, or in the background) would make it a new version and
    let its images load anyway."""
    response = fhir.get(f"/ImagingStudy/{fhir_id}")
    assert response.status_code == 200, response.text
    study: dict[str, Any] = response.json()
    assert study["meta"]["versionId"] == imported.version_ids[("ImagingStudy", fhir_id)], fhir_id
    assert {k: v for k, v in study.items() if k != "meta"} == imported.of("ImagingStudy")[fhir_id]
    return study


def test_every_demo_study_still_loads_its_images_through_the_dicomweb_proxy(
    scenario: Scenario, served: SecuredServer
) -> None:
    token = served.mint("system/*.rs", role=None)
    with (
        served.client(token) as fhir,
        httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=30) as dicomweb,
    ):
        for demo in demo_studies():
            study = served_as_imported(fhir, scenario.after_again, demo.fhir_id)
            (endpoint_reference,) = (e["reference"] for e in study["endpoint"])
            endpoint_id = endpoint_reference.removeprefix("Endpoint/")
            endpoint = fhir.get(f"/{endpoint_reference}")
            assert endpoint.status_code == 200, endpoint.text
            address = endpoint.json()["address"]
            # The address a viewer follows: this server's proxy (rewritten at start-up to its base).
            assert address == f"{served.origin}/dicomweb/{endpoint_id}", address
            (uid,) = (i["value"] for i in study["identifier"] if i.get("system") == DICOM_UID)
            base = f"{address}/studies/{uid.removeprefix('urn:oid:')}"
            expected = {
                (series["uid"], instance["uid"])
                for series in study["series"]
                for instance in series["instance"]
            }
            assert len(expected) == sum(s.instances for s in demo.series), demo.fhir_id

            metadata = dicomweb.get(f"{base}/metadata", headers={"Accept": "application/dicom+json"})
            assert metadata.status_code == 200, (demo.fhir_id, metadata.text)
            instances = {
                (i[SERIES_INSTANCE_UID]["Value"][0], i[SOP_INSTANCE_UID]["Value"][0]): i
                for i in metadata.json()
            }
            assert instances.keys() == expected, demo.fhir_id  # Orthanc holds exactly the study's instances

            for series_uid, sop_uid in sorted(expected):
                instance_url = f"{base}/series/{series_uid}/instances/{sop_uid}"
                frames = dicomweb.get(f"{instance_url}/frames/1", headers={"Accept": FRAMES_ACCEPT})
                assert frames.status_code == 200, (demo.fhir_id, instance_url, frames.text)
                (pixels,) = frames_of(frames)
                assert len(pixels) == frame_size(instances[(series_uid, sop_uid)]), instance_url
                assert pixels.strip(b"\x00"), instance_url  # an image, not a blank
                rendered = dicomweb.get(f"{instance_url}/rendered", headers={"Accept": "image/jpeg"})
                assert rendered.status_code == 200, (demo.fhir_id, instance_url, rendered.text)
                assert rendered.headers["content-type"] == "image/jpeg"
                assert rendered.content[:3] == b"\xff\xd8\xff", instance_url

        for demo in demo_studies():  # nor did anything rewrite them while the images loaded
            served_as_imported(fhir, scenario.after_again, demo.fhir_id)
