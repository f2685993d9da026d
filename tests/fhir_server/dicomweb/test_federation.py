"""Hospitals' PACS as FHIR, and their studies synced into ImagingStudy, checked against the DICOM source."""

from __future__ import annotations

import asyncio
import dataclasses
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from pydicom import Dataset

from fhir_server.dicomweb.ids import hospital_patient_id_system
from fhir_server.dicomweb.runtime import dicomweb_runtime
from fhir_server.dicomweb.sync.state import SyncStateStore
from mappers.legacy import ORTHANC_STUDY_ID_SYSTEM
from terminology.systems import DCM_SYSTEM, LEGACY_HOSPITAL_ID_SYSTEM, LEGACY_STUDY_ID_SYSTEM
from tests.fhir_server.dicomweb.dicom_samples import SampleSeries, make_study, to_bytes
from tests.fhir_server.dicomweb.federation_setup import LARS_AT_NORTH, Federation, Hospital
from tests.fhir_server.dicomweb.orthanc_process import PASSWORD


def _read(federation: Federation, reference: str) -> dict[str, Any]:
    with federation.client() as client:
        response = client.get(f"/fhir/{reference}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _started(dataset: Dataset) -> str:
    date, time, offset = str(dataset.StudyDate), str(dataset.StudyTime), str(dataset.TimezoneOffsetFromUTC)
    return f"{date[:4]}-{date[4:6]}-{date[6:]}T{time[:2]}:{time[2:4]}:{time[4:6]}{offset[:3]}:{offset[3:]}"


def _assert_series(series: dict[str, Any], instances: list[Dataset]) -> None:
    first = instances[0]
    assert series["uid"] == first.SeriesInstanceUID
    assert series["number"] == int(first.SeriesNumber)
    assert series["modality"]["system"] == DCM_SYSTEM
    assert series["modality"]["code"] == first.Modality
    assert series["numberOfInstances"] == len(instances)
    if "SeriesDescription" in first:
        assert series["description"] == first.SeriesDescription
    by_number = sorted(instances, key=lambda d: int(d.InstanceNumber))
    assert [i["uid"] for i in series["instance"]] == [d.SOPInstanceUID for d in by_number]
    assert [i["number"] for i in series["instance"]] == [int(d.InstanceNumber) for d in by_number]
    assert [i["sopClass"] for i in series["instance"]] == [
        {"system": "urn:ietf:rfc:3986", "code": f"urn:oid:{d.SOPClassUID}"} for d in by_number
    ]


def _assert_study(study: dict[str, Any], source: list[Dataset], hospital: Hospital, subject: str) -> None:
    first = source[0]
    assert study["resourceType"] == "ImagingStudy"
    assert study["status"] == "available"
    assert study["identifier"][0] == {"system": "urn:dicom:uid", "value": f"urn:oid:{first.StudyInstanceUID}"}
    accession = next(
        i for i in study["identifier"] if i.get("type", {}).get("coding", [{}])[0].get("code") == "ACSN"
    )
    assert accession["value"] == first.AccessionNumber
    assert study["subject"] == {"reference": subject}
    assert study["started"] == _started(first)
    assert study["description"] == first.StudyDescription
    assert "Doe" in study["referrer"]["display"] and "Jane" in study["referrer"]["display"]
    assert study["endpoint"] == [{"reference": f"Endpoint/{hospital.wado_endpoint_id}"}]
    series_uids = list(dict.fromkeys(str(d.SeriesInstanceUID) for d in source))
    assert study["numberOfSeries"] == len(series_uids)
    assert study["numberOfInstances"] == len(source)
    # Study-level modalities in the archive's order (Modalities in Study), each once.
    assert sorted(m["code"] for m in study["modality"]) == sorted({str(d.Modality) for d in source})
    assert all(m["system"] == DCM_SYSTEM for m in study["modality"])
    by_uid = {uid: [d for d in source if d.SeriesInstanceUID == uid] for uid in series_uids}
    assert [s["uid"] for s in study["series"]] == sorted(
        series_uids, key=lambda u: int(by_uid[u][0].SeriesNumber)
    )
    for series in study["series"]:
        _assert_series(series, by_uid[series["uid"]])


def test_hospital_is_an_organization_with_endpoints_addressed_at_our_proxy(federation: Federation) -> None:
    for hospital, name in ((federation.north, "North Hospital"), (federation.south, "South Clinic")):
        organization = _read(federation, f"Organization/{hospital.organization_id}")
        assert organization["name"] == name
        assert {"system": LEGACY_HOSPITAL_ID_SYSTEM, "value": hospital.identifier} in [
            {"system": i.get("system"), "value": i.get("value")} for i in organization["identifier"]
        ]
        for endpoint_id, code in (
            (hospital.wado_endpoint_id, "dicom-wado-rs"),
            (hospital.qido_endpoint_id, "dicom-qido-rs"),
        ):
            endpoint = _read(federation, f"Endpoint/{endpoint_id}")
            assert endpoint["status"] == "active"
            assert endpoint["connectionType"]["code"] == code
            assert endpoint["managingOrganization"]["reference"] == f"Organization/{hospital.organization_id}"
            assert endpoint["address"] == f"{federation.server.base_url}/dicomweb/{endpoint_id}"
            assert str(hospital.orthanc.http_port) not in str(endpoint) and PASSWORD not in str(endpoint)


def test_admin_api_needs_an_admin_token_and_never_returns_passwords(federation: Federation) -> None:
    anonymous = httpx.get(f"{federation.server.base_url}/admin/hospitals", timeout=30)
    with federation.client() as client:
        service = client.get("/admin/hospitals")
        listing = client.get("/admin/hospitals", headers=federation.server.admin_headers())
    assert anonymous.status_code == 401
    assert anonymous.json()["resourceType"] == "OperationOutcome"
    assert service.status_code == 403  # a system/*.cruds token is no admin token
    assert listing.status_code == 200
    assert PASSWORD not in listing.text
    entries = {h["identifier"]: h for h in listing.json()["hospitals"]}
    assert entries["HOS-N01"]["hasPassword"] is True and entries["HOS-S01"]["hasPassword"] is True


def test_invalid_hospital_is_a_400_operation_outcome(federation: Federation) -> None:
    with federation.client(**federation.server.admin_headers()) as client:
        bad_url = client.post(
            "/admin/hospitals",
            json={"name": "X", "identifier": "HOS-X", "orthancUrl": "http://user:pw@pacs:8042"},
        )
        missing = client.post("/admin/hospitals", json={"name": "X"})
    for response in (bad_url, missing):
        assert response.status_code == 400
        assert response.json()["resourceType"] == "OperationOutcome"


def test_registering_again_is_refused_and_updating_keeps_credentials(federation: Federation) -> None:
    north = federation.north
    again = federation.server.cli(
        "hospital",
        "add",
        "--name",
        "North Hospital",
        "--identifier",
        north.identifier,
        "--orthanc-url",
        north.orthanc.url,
    )
    assert again.returncode == 1
    assert "North Hospital" in again.stderr and f"hospital update {north.identifier}" in again.stderr
    updated = federation.server.cli(
        "hospital", "update", north.identifier, "--name", "North Hospital", "--orthanc-url", north.orthanc.url
    )
    assert updated.returncode == 0, updated.stderr
    lines = updated.stdout.strip().splitlines()
    assert lines[-1] == north.organization_id
    written = [line for line in lines if line.startswith(("Organization/", "Endpoint/"))]
    assert len(written) == 3 and all(line.endswith(": unchanged") for line in written), updated.stdout
    with federation.client(**federation.server.admin_headers()) as client:
        entries = {h["identifier"]: h for h in client.get("/admin/hospitals").json()["hospitals"]}
    assert entries[north.identifier]["hasPassword"] is True


def test_studies_are_mapped_field_by_field_from_dicom(federation: Federation) -> None:
    ingrid = f"Patient/{federation.ingrid}"
    north_ct = _read(federation, f"ImagingStudy/{federation.north.study_id(federation.north_ct)}")
    _assert_study(north_ct, federation.north_ct, federation.north, ingrid)
    south = _read(federation, f"ImagingStudy/{federation.south.study_id(federation.south_study)}")
    _assert_study(south, federation.south_study, federation.south, ingrid)
    assert [s["modality"]["code"] for s in south["series"]] == ["MR", "CT"]


def test_upload_makes_the_study_appear_at_once(federation: Federation) -> None:
    study_id = federation.south.study_id(federation.south_study)
    assert (
        f"ImagingStudy/{study_id}\t{federation.south_study[0].StudyInstanceUID}" in federation.upload.stdout
    )
    assert "3 instances stored" in federation.upload.stdout
    # The sync after the upload found it already written, unchanged.
    assert "South Clinic" in federation.first_sync.stdout
    south_line = next(
        line for line in federation.first_sync.stdout.splitlines() if line.startswith("South Clinic")
    )
    assert "0 studies created, 0 updated, 1 unchanged" in south_line


def test_unmatched_patient_is_created_from_the_header_and_reported(federation: Federation) -> None:
    system = hospital_patient_id_system("HOS-N01")
    with federation.client() as client:
        found = client.get(
            "/fhir/Patient", params={"identifier": f"{system}|{LARS_AT_NORTH.patient_id}"}
        ).json()
    assert len(found["entry"]) == 1
    lars = found["entry"][0]["resource"]
    assert lars["name"][0]["family"] == "Olsen" and lars["name"][0]["given"] == ["Lars", "Erik"]
    assert lars["gender"] == "male" and lars["birthDate"] == "1972-01-01"
    assert f"Patient/{lars['id']} (DICOM PatientID N-200)" in federation.first_sync.stdout
    study = _read(federation, f"ImagingStudy/{federation.north.study_id(federation.north_mr)}")
    _assert_study(study, federation.north_mr, federation.north, f"Patient/{lars['id']}")


def test_patient_studies_from_both_hospitals_come_back_from_one_query(federation: Federation) -> None:
    with federation.client() as client:
        bundle = client.get("/fhir/ImagingStudy", params={"patient": f"Patient/{federation.ingrid}"}).json()
    studies = [entry["resource"] for entry in bundle.get("entry", [])]
    assert sorted(s["id"] for s in studies) == sorted(
        [federation.north.study_id(federation.north_ct), federation.south.study_id(federation.south_study)]
    )
    organizations = set()
    for study in studies:
        endpoint = _read(federation, study["endpoint"][0]["reference"])
        organizations.add(endpoint["managingOrganization"]["reference"])
    assert organizations == {
        f"Organization/{federation.north.organization_id}",
        f"Organization/{federation.south.organization_id}",
    }


def test_second_sync_creates_no_versions(federation: Federation) -> None:
    again = federation.sync()
    assert again.returncode == 0, again.stderr
    for line in again.stdout.splitlines():
        if line.startswith(("North Hospital", "South Clinic")):
            assert "0 studies created, 0 updated" in line and "0 patients created" in line
    for hospital, study in (
        (federation.north, federation.north_ct),
        (federation.north, federation.north_mr),
        (federation.south, federation.south_study),
    ):
        assert _read(federation, f"ImagingStudy/{hospital.study_id(study)}")["meta"]["versionId"] == "1"


def test_change_feed_brings_new_studies_and_changed_ones(federation: Federation) -> None:
    north, knee = federation.north, federation.north_mr[0]
    late = make_study(
        LARS_AT_NORTH, [SampleSeries("CT_small.dcm", 1)], description="CT knee", accession="ACC-N-3"
    )
    added_series = make_study(
        LARS_AT_NORTH,
        [SampleSeries("CT_small.dcm", 7)],
        description=str(knee.StudyDescription),
        accession=str(knee.AccessionNumber),
        started=(str(knee.StudyDate), str(knee.StudyTime), str(knee.TimezoneOffsetFromUTC)),
        study_uid=str(knee.StudyInstanceUID),
    )
    for dataset in [*late, *added_series]:
        north.orthanc.store(to_bytes(dataset))
    synced = federation.sync()
    assert synced.returncode == 0, synced.stderr
    north_line = next(line for line in synced.stdout.splitlines() if line.startswith("North Hospital"))
    assert "1 studies created, 1 updated" in north_line, synced.stdout
    changed = _read(federation, f"ImagingStudy/{north.study_id(federation.north_mr)}")
    assert changed["meta"]["versionId"] == "2"
    _assert_study(changed, [*federation.north_mr, *added_series], north, changed["subject"]["reference"])
    _assert_study(
        _read(federation, f"ImagingStudy/{north.study_id(late)}"),
        late,
        north,
        changed["subject"]["reference"],
    )
    quiet = federation.sync()
    assert "0 studies created, 0 updated" in quiet.stdout


def test_health_reports_each_orthanc(federation: Federation) -> None:
    with federation.client() as client:
        health = client.get("/health/orthanc")
    assert health.status_code == 200
    entries = {h["identifier"]: h for h in health.json()["hospitals"]}
    for identifier in ("HOS-N01", "HOS-S01"):
        assert entries[identifier]["status"] == "up"
        assert entries[identifier]["version"] == "1.10.1"
        assert entries[identifier]["dicomweb"] is True
        assert entries[identifier]["latencyMs"] >= 0
    assert str(federation.north.orthanc.http_port) not in health.text


def test_metrics_show_sync_lag(federation: Federation) -> None:
    with federation.client() as client:
        metrics = client.get("/metrics").text
    for identifier in ("HOS-N01", "HOS-S01"):
        line = next(
            x
            for x in metrics.splitlines()
            if x.startswith(f'fhir_sync_lag_seconds{{hospital="{identifier}"}}')
        )
        assert float(line.split()[-1]) >= 0


def test_doctor_checks_each_orthanc(federation: Federation) -> None:
    doctor = federation.server.cli("doctor")
    assert "OK    HOS-N01 North Hospital" in doctor.stdout, doctor.stdout + doctor.stderr
    assert "OK    HOS-S01 South Clinic" in doctor.stdout
    assert "Orthanc 1.10.1" in doctor.stdout


def test_a_study_the_legacy_import_made_is_adopted_not_duplicated(federation: Federation) -> None:
    north = federation.north
    lars = _read(federation, f"ImagingStudy/{north.study_id(federation.north_mr)}")["subject"]["reference"]
    hip = make_study(
        LARS_AT_NORTH, [SampleSeries("MR_small.dcm", 1)], description="MR hip", accession="ACC-N-4"
    )
    orthanc_id = north.orthanc.store(to_bytes(hip[0]))["ParentStudy"]
    legacy_id = "legacy-stu-20240101"
    legacy = {
        "resourceType": "ImagingStudy",
        "id": legacy_id,
        "status": "available",
        "identifier": [
            {"use": "old", "system": LEGACY_STUDY_ID_SYSTEM, "value": "STU-20240101"},
            {
                "system": ORTHANC_STUDY_ID_SYSTEM,
                "value": orthanc_id,
                "assigner": {"reference": f"Organization/{north.organization_id}"},
            },
        ],
        "subject": {"reference": lars},
        "endpoint": [{"reference": f"Endpoint/{north.wado_endpoint_id}"}],
        "description": "hip (legacy text)",
        "note": [{"text": "modality 'MRI' mapped to MR"}],
    }
    with federation.client() as client:
        put = client.put(
            f"/fhir/ImagingStudy/{legacy_id}", json=legacy, headers={"Content-Type": "application/fhir+json"}
        )
        assert put.status_code == 201, put.text
        synced = federation.sync()
        assert synced.returncode == 0, synced.stderr
        assert client.get(f"/fhir/ImagingStudy/{north.study_id(hip)}").status_code == 404
    adopted = _read(federation, f"ImagingStudy/{legacy_id}")
    assert adopted["meta"]["versionId"] == "2"
    _assert_study(adopted, hip, north, lars)
    assert {"use": "old", "system": LEGACY_STUDY_ID_SYSTEM, "value": "STU-20240101"} in adopted["identifier"]
    assert adopted["note"] == legacy["note"]
    # The proxy finds the adopted study by its Study Instance UID.
    metadata = httpx.get(
        f"{federation.server.base_url}/dicomweb/{north.wado_endpoint_id}/studies/{hip[0].StudyInstanceUID}/metadata",
        headers=federation.server.bearer(),
        timeout=30,
    )
    assert metadata.status_code == 200


def test_background_sync_loop_runs_passes_when_configured(federation: Federation) -> None:
    services = federation.server.services
    looping = dataclasses.replace(
        services, settings=services.settings.model_copy(update={"dicomweb_sync_interval_seconds": 3600})
    )
    state = SyncStateStore(services.connection.documents)
    before = state.get(federation.north.organization_id).last_completed_at

    async def run_until_a_pass_completed() -> None:
        async with dicomweb_runtime(looping):
            for _ in range(300):
                if state.get(federation.north.organization_id).last_completed_at != before:
                    return
                await asyncio.sleep(0.1)
            raise AssertionError("no background sync pass completed within 30 s")

    # In a thread of its own: the test must not depend on whether this thread already runs an event loop.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, run_until_a_pass_completed()).result()
