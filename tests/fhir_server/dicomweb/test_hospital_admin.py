"""Hospital administration through the admin API and the CLI, against real Orthancs: create and update are
different operations (a duplicate identifier is a 409, an update keeps what it is not given, the password
above all), the Orthanc is tried before anything is saved (field-level errors, `--offline` / `allowOffline`
to save anyway), the identity-rule fields, the AuditEvent of every change, "Sync now", and the repair of
studies damaged on our side."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydicom import Dataset

from fhir_server.dicomweb import ids
from fhir_server.dicomweb.orthanc.connections import COLLECTION as CONNECTIONS
from terminology.systems import DICOM_UID_SYSTEM, LEGACY_HOSPITAL_ID_SYSTEM
from tests.fhir_server.dicomweb.dicom_samples import SamplePatient, SampleSeries, make_study, to_bytes
from tests.fhir_server.dicomweb.inprocess_server import InProcessServer
from tests.fhir_server.dicomweb.orthanc_process import PASSWORD, USER, OrthancServer

IDENTIFIER = "HOS-ADM1"
ISSUERS = ["NATIONAL", "NAT-ID"]
PATIENT = SamplePatient("A-1", "Mwangi^Amina", "19800202", "F")


@dataclass
class Admin:
    server: InProcessServer
    orthanc: OrthancServer
    organization_id: str
    wado: str
    study: list[Dataset]

    def http(self, scope: str = "admin") -> httpx.Client:
        headers = self.server.admin_headers() if scope == "admin" else self.server.bearer(scope)
        return httpx.Client(base_url=self.server.base_url, timeout=60, headers=headers)

    def listed(self, identifier: str = IDENTIFIER) -> dict[str, Any] | None:
        with self.http() as client:
            hospitals = client.get("/admin/hospitals").json()["hospitals"]
        return next((h for h in hospitals if h["identifier"] == identifier), None)

    def images_load(self, study: list[Dataset] | None = None) -> bool:
        """A WADO-RS request through our proxy, as a viewer would make it."""
        uid = (study or self.study)[0].StudyInstanceUID
        response = httpx.get(
            f"{self.server.base_url}/dicomweb/{self.wado}/studies/{uid}/metadata",
            headers=self.server.bearer(),
            timeout=60,
        )
        return response.status_code == 200 and len(response.json()) == len(study or self.study)


def _audit_events(server: InProcessServer, hospital: str) -> list[dict[str, Any]]:
    server.app.state.auth.audit.flush()  # type: ignore[union-attr]
    events = server.services.connection.db.get_collection("audit_events")
    found = events.find({"res.outcomeDesc": {"$regex": f'"hospital":"{hospital}"'}}).sort("ts", 1)
    return [doc["res"] for doc in found]


@pytest.fixture(scope="module")
def admin(
    fhir_server: InProcessServer,
    orthanc_factory: type[OrthancServer],
    tmp_path_factory: pytest.TempPathFactory,
) -> Admin:
    orthanc = orthanc_factory("ADMIN", tmp_path_factory.mktemp("admin-orthanc")).start()
    study = make_study(PATIENT, [SampleSeries("CT_small.dcm", 1)], description="CT head", accession="ACC-A-1")
    for dataset in study:
        orthanc.store(to_bytes(dataset))
    with httpx.Client(
        base_url=fhir_server.base_url, timeout=60, headers=fhir_server.admin_headers()
    ) as client:
        created = client.post(
            "/admin/hospitals",
            json={
                "name": "Admin Test Hospital",
                "identifier": IDENTIFIER,
                "orthancUrl": orthanc.url,
                "orthancUser": USER,
                "orthancPassword": PASSWORD,
                "nationalIdIssuers": ISSUERS,
            },
        )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["connectionCheck"]["ok"] is True and body["connectionCheck"]["version"]
    synced = fhir_server.cli("sync", "--hospital", IDENTIFIER)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    wado = body["endpoints"][0].removeprefix("Endpoint/")
    return Admin(fhir_server, orthanc, body["organization"].removeprefix("Organization/"), wado, study)


def test_saving_without_touching_the_password_keeps_it_and_the_issuers(admin: Admin) -> None:
    assert admin.images_load()
    with admin.http() as client:
        # What the old dashboard sent: every field, the password left empty ("leave empty to keep").
        saved = client.patch(
            f"/admin/hospitals/{admin.organization_id}",
            json={
                "name": "Admin Test Hospital",
                "orthancUrl": admin.orthanc.url,
                "orthancUser": USER,
                "orthancPassword": "",
            },
        )
        nothing = client.patch(f"/admin/hospitals/{IDENTIFIER}", json={})
    assert saved.status_code == 200, saved.text
    assert nothing.status_code == 200, nothing.text
    assert "connectionCheck" not in saved.json()  # nothing about the connection changed: not re-tried
    assert all(outcome == "unchanged" for outcome in saved.json()["outcome"].values())
    listed = admin.listed()
    assert listed is not None
    assert listed["hasPassword"] is True
    assert listed["nationalIdIssuers"] == ISSUERS and listed["nationalIdSource"] == "issuer"
    assert admin.images_load()
    # The stored document still holds the sealed password and the issuers.
    doc = admin.server.services.connection.db.get_collection(CONNECTIONS).find_one({"identifier": IDENTIFIER})
    assert doc is not None and doc["password_sealed"] and doc["national_id_issuers"] == ISSUERS


def test_update_changes_only_the_fields_given(admin: Admin) -> None:
    with admin.http() as client:
        renamed = client.patch(
            f"/admin/hospitals/{IDENTIFIER}", json={"name": "Admin Test Hospital (renamed)"}
        )
        assert renamed.status_code == 200, renamed.text
        assert renamed.json()["outcome"]["organization"] == "updated"
        organization = client.get(
            f"/fhir/Organization/{admin.organization_id}", headers=admin.server.bearer()
        )
        back = client.patch(f"/admin/hospitals/{IDENTIFIER}", json={"name": "Admin Test Hospital"})
    assert back.status_code == 200
    assert organization.json()["name"] == "Admin Test Hospital (renamed)"
    listed = admin.listed()
    assert listed is not None and listed["orthancUrl"] == admin.orthanc.url and listed["hasPassword"] is True
    assert listed["nationalIdIssuers"] == ISSUERS
    assert admin.images_load()


def test_a_duplicate_identifier_is_a_409_and_the_original_is_untouched(
    admin: Admin, orthanc_factory: type[OrthancServer], tmp_path: Path
) -> None:
    other = orthanc_factory("OTHER", tmp_path / "other").start()
    with admin.http() as client:
        response = client.post(
            "/admin/hospitals",
            json={
                "name": "Someone Else's Hospital",
                "identifier": IDENTIFIER,
                "orthancUrl": other.url,
                "orthancUser": USER,
                "orthancPassword": PASSWORD,
            },
        )
    assert response.status_code == 409, response.text
    issue = response.json()["issue"][0]
    assert issue["expression"] == ["identifier"]
    assert (
        "Admin Test Hospital" in issue["diagnostics"]
        and f"Organization/{admin.organization_id}" in issue["diagnostics"]
    )
    added = admin.server.cli(
        "hospital", "add", "--name", "Someone Else", "--identifier", IDENTIFIER, "--orthanc-url", other.url
    )
    assert added.returncode == 1
    assert "Admin Test Hospital" in added.stderr and f"hospital update {IDENTIFIER}" in added.stderr
    listed = admin.listed()
    assert listed is not None
    assert (listed["name"], listed["orthancUrl"]) == ("Admin Test Hospital", admin.orthanc.url)
    assert admin.images_load()


def test_a_wrong_password_is_a_field_error_and_nothing_is_saved(admin: Admin) -> None:
    with admin.http() as client:
        new = client.post(
            "/admin/hospitals",
            json={
                "name": "Bad Password Hospital",
                "identifier": "HOS-ADM-BADPW",
                "orthancUrl": admin.orthanc.url,
                "orthancUser": USER,
                "orthancPassword": "not-the-password",
            },
        )
        changed = client.patch(f"/admin/hospitals/{IDENTIFIER}", json={"orthancPassword": "not-the-password"})
        organizations = client.get(
            "/fhir/Organization",
            params={"identifier": f"{LEGACY_HOSPITAL_ID_SYSTEM}|HOS-ADM-BADPW"},
            headers=admin.server.bearer(),
        )
    for response in (new, changed):
        assert response.status_code == 422, response.text
        issue = response.json()["issue"][0]
        assert issue["expression"] == ["orthancPassword"]
        assert "refused" in issue["diagnostics"] and "not-the-password" not in response.text
    assert admin.listed("HOS-ADM-BADPW") is None
    assert organizations.json().get("total", len(organizations.json().get("entry", []))) == 0
    assert admin.images_load()  # the stored password still works


def test_an_unreachable_orthanc_or_one_without_dicomweb_is_refused_unless_offline(
    admin: Admin, orthanc_factory: type[OrthancServer], tmp_path: Path
) -> None:
    class WithoutDicomweb(OrthancServer):
        def config(self) -> dict[str, Any]:
            return {**super().config(), "Plugins": []}

    plain = WithoutDicomweb("PLAIN", tmp_path / "plain").start()
    try:
        with admin.http() as client:
            no_plugin = client.post(
                "/admin/hospitals",
                json={
                    "name": "Plain Orthanc",
                    "identifier": "HOS-ADM-PLAIN",
                    "orthancUrl": plain.url,
                    "orthancUser": USER,
                    "orthancPassword": PASSWORD,
                },
            )
    finally:
        plain.stop()
    assert no_plugin.status_code == 422
    assert no_plugin.json()["issue"][0]["expression"] == ["orthancUrl"]
    assert "DICOMweb plugin" in no_plugin.json()["issue"][0]["diagnostics"]

    refused = admin.server.cli(
        "hospital", "add", "--name", "Down Hospital", "--identifier", "HOS-ADM-DOWN", "--orthanc-url",
        "http://127.0.0.1:9",
    )  # fmt: skip
    assert refused.returncode == 2
    assert (
        "--orthanc-url:" in refused.stderr
        and "not reachable" in refused.stderr
        and "--offline" in refused.stderr
    )
    assert admin.listed("HOS-ADM-DOWN") is None
    offline = admin.server.cli(
        "hospital", "add", "--name", "Down Hospital", "--identifier", "HOS-ADM-DOWN", "--orthanc-url",
        "http://127.0.0.1:9", "--offline",
    )  # fmt: skip
    assert offline.returncode == 0, offline.stderr
    assert "saved without a working connection" in offline.stderr
    listed = admin.listed("HOS-ADM-DOWN")
    assert listed is not None and listed["orthancUrl"] == "http://127.0.0.1:9"
    # An update that changes the connection is tried as well; one that does not is not.
    moved = admin.server.cli("hospital", "update", "HOS-ADM-DOWN", "--orthanc-url", "http://127.0.0.1:10")
    assert moved.returncode == 2 and "not reachable" in moved.stderr
    renamed = admin.server.cli("hospital", "update", "HOS-ADM-DOWN", "--name", "Down Hospital (maintenance)")
    assert renamed.returncode == 0, renamed.stderr


def test_identity_rules_are_stored_and_edited(admin: Admin) -> None:
    added = admin.server.cli(
        "hospital", "add", "--name", "Identity Hospital", "--identifier", "HOS-ADM-ID", "--orthanc-url",
        admin.orthanc.url, "--orthanc-user", USER, "--orthanc-password", PASSWORD,
        "--national-id-source", "patient-id",
        "--national-id-issuer", "NIN", "--national-id-issuer", "NATIONAL",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    store = admin.server.services.connection.db.get_collection(CONNECTIONS)
    doc = store.find_one({"identifier": "HOS-ADM-ID"})
    assert doc is not None
    assert (doc["national_id_source"], doc["national_id_issuers"]) == ("patient-id", ["NIN", "NATIONAL"])
    switched = admin.server.cli("hospital", "update", "HOS-ADM-ID", "--national-id-source", "issuer")
    assert switched.returncode == 0, switched.stderr
    listed = admin.listed("HOS-ADM-ID")
    assert listed is not None
    assert (listed["nationalIdSource"], listed["nationalIdIssuers"]) == ("issuer", ["NIN", "NATIONAL"])
    assert listed["hasPassword"] is True
    with admin.http() as client:
        bad = client.patch("/admin/hospitals/HOS-ADM-ID", json={"nationalIdSource": "guess"})
        issuers = client.patch("/admin/hospitals/HOS-ADM-ID", json={"nationalIdIssuers": ["NIN"]})
    assert bad.status_code == 400 and bad.json()["issue"][0]["expression"] == ["nationalIdSource"]
    assert issuers.status_code == 200 and issuers.json()["nationalIdIssuers"] == ["NIN"]
    assert issuers.json()["nationalIdSource"] == "issuer"
    cleared = admin.server.cli("hospital", "update", "HOS-ADM-ID", "--no-national-id-issuers")
    assert cleared.returncode == 0, cleared.stderr
    listed = admin.listed("HOS-ADM-ID")
    assert listed is not None and listed["nationalIdIssuers"] == [] and listed["hasPassword"] is True


def test_every_change_writes_an_audit_event_without_the_secret(admin: Admin) -> None:
    url = f"/admin/hospitals/{IDENTIFIER}"
    with admin.http() as client:
        issuers = client.patch(url, json={"nationalIdIssuers": ["NATIONAL"]})
        back = client.patch(url, json={"nationalIdIssuers": ISSUERS})
        # A wrong password saved anyway (as for a PACS down for maintenance), then the right one again.
        wrong = client.patch(url, json={"orthancPassword": "not-the-password", "allowOffline": True})
        assert wrong.status_code == 200, wrong.text
        assert wrong.json()["connectionCheck"]["ok"] is False
        assert not admin.images_load()
        right = client.patch(url, json={"orthancPassword": PASSWORD})
    assert issuers.status_code == back.status_code == right.status_code == 200
    assert right.json()["connectionCheck"]["ok"] is True and admin.images_load()
    events = _audit_events(admin.server, IDENTIFIER)
    assert [e["action"] for e in events][:1] == ["C"]  # the creation by the fixture
    details = [json.loads(e["outcomeDesc"].split(": ", 1)[1]) for e in events]
    assert details[0]["before"] is None and details[0]["after"]["orthancUrl"] == admin.orthanc.url
    assert {"before": {"nationalIdIssuers": ISSUERS}, "after": {"nationalIdIssuers": ["NATIONAL"]}} in [
        {"before": d["before"], "after": d["after"]} for d in details
    ]
    password_changes = [d for d in details if d.get("passwordChanged")]
    assert len(password_changes) >= 2 and "savedWithoutWorkingConnection" in password_changes[-2]
    update = events[-1]
    assert update["action"] == "U" and update["outcome"] == "0"
    assert {"reference": f"Organization/{admin.organization_id}"} in [e["what"] for e in update["entity"]]
    assert any(a.get("requestor") for a in update["agent"])  # who did it
    cli_events = _audit_events(admin.server, "HOS-ADM-ID")
    assert cli_events and any(a["who"].get("display") == "cli" for e in cli_events for a in e["agent"])
    for event in [*events, *cli_events]:
        assert PASSWORD not in json.dumps(event) and "not-the-password" not in json.dumps(event)


def test_sync_now_syncs_the_hospital_and_answers_its_summary(admin: Admin) -> None:
    new = make_study(
        PATIENT, [SampleSeries("MR_small.dcm", 1, instances=2)], description="MR spine", accession="ACC-A-2"
    )
    for dataset in new:
        admin.orthanc.store(to_bytes(dataset))
    with admin.http() as client:
        response = client.post(f"/admin/hospitals/{IDENTIFIER}/sync")
        unknown = client.post("/admin/hospitals/HOS-NOWHERE/sync")
    with admin.http("system/*.cruds") as client:
        forbidden = client.post(f"/admin/hospitals/{IDENTIFIER}/sync")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["completed"] is True and body["created"] == 1 and body["failure"] is None
    assert "1 studies created" in body["summary"] and body["lastSync"] and body["failingSince"] is None
    assert unknown.status_code == 404 and forbidden.status_code == 403
    study = httpx.get(
        f"{admin.server.base_url}/fhir/ImagingStudy/{ids.study_id(admin.wado, new[0].StudyInstanceUID)}",
        headers=admin.server.bearer(),
        timeout=30,
    )
    assert study.status_code == 200 and study.json()["numberOfInstances"] == 2
    assert admin.images_load(new)


def test_a_damaged_study_is_repaired_by_the_next_sync(admin: Admin) -> None:
    study_id = ids.study_id(admin.wado, admin.study[0].StudyInstanceUID)
    url = f"{admin.server.base_url}/fhir/ImagingStudy/{study_id}"
    headers = {**admin.server.bearer(), "Content-Type": "application/fhir+json"}
    whole = httpx.get(url, headers=headers, timeout=30).json()
    # As an old import left some studies: no series, no Study Instance UID.
    damaged = {
        k: v for k, v in whole.items() if k not in ("series", "meta", "numberOfSeries", "numberOfInstances")
    }
    damaged["identifier"] = [i for i in whole["identifier"] if i.get("system") != DICOM_UID_SYSTEM]
    put = httpx.put(url, json=damaged, headers=headers, timeout=30)
    assert put.status_code == 200, put.text
    synced = admin.server.cli("sync", "--hospital", IDENTIFIER)
    assert synced.returncode == 0, synced.stderr
    assert "1 repaired" in synced.stdout, synced.stdout
    repaired = httpx.get(url, headers=headers, timeout=30).json()
    assert repaired["series"] == whole["series"]
    assert any(i.get("system") == DICOM_UID_SYSTEM for i in repaired["identifier"])
    # Deleted through the API while its images are still in the PACS: recreated.
    assert httpx.delete(url, headers=headers, timeout=30).status_code in (200, 204)
    again = admin.server.cli("sync", "--hospital", IDENTIFIER)
    assert "1 repaired" in again.stdout, again.stdout
    assert httpx.get(url, headers=headers, timeout=30).json()["series"] == whole["series"]
    # Nothing to repair: nothing written.
    quiet = admin.server.cli("sync", "--hospital", IDENTIFIER)
    assert "repaired" not in quiet.stdout and "0 updated" in quiet.stdout
