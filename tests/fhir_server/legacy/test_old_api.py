"""The old app's API (`/api/…`), as its scripts call it: every call its README documents, with old ids, the
old JSON shapes and a bearer token, answered from the FHIR data; what a patient's token or no token gets;
writes that become FHIR resources; `Deprecation` and a `Link` to the FHIR call on every answer."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.server_process import SecuredServer

JOHN, AMINA, BARAKA = "PAT-901234", "PAT-567890", "PAT-112233"
JOHN_NID, AMINA_NID = "199012345678901234", "198507151234567890"
PATIENT_KEYS = {"id", "national_id", "first_name", "last_name", "date_of_birth", "gender", "phone"}
HOSPITAL_KEYS = {"id", "name", "address", "phone", "email", "created_date"}
STUDY_KEYS = {
    "study_id",
    "patient_id",
    "hospital_id",
    "study_date",
    "modality",
    "description",
    "orthanc_study_id",
    "patient_name",
    "national_id",
    "hospital_name",
}
LEGACY_PATIENT_ID = "https://fhir.imaging-federation.example/sid/legacy-patient-id"
LEGACY_STUDY_ID = "https://fhir.imaging-federation.example/sid/legacy-study-id"


def _api(server: SecuredServer, token: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=server.origin, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def system(legacy_server: SecuredServer) -> httpx.Client:
    return _api(legacy_server, legacy_server.mint("system/*.cruds", role=None))


@pytest.fixture(scope="module")
def john(legacy_server: SecuredServer) -> httpx.Client:
    token = legacy_server.mint(
        "patient/*.cruds", patient="legacy-pat-901234", role="patient", fhir_user="Patient/legacy-pat-901234"
    )
    return _api(legacy_server, token)


@pytest.fixture(scope="module")
def fhir(legacy_server: SecuredServer) -> httpx.Client:
    return legacy_server.client(legacy_server.mint("system/*.cruds", role=None))


def _deprecated(response: httpx.Response, legacy_server: SecuredServer, successor: str) -> None:
    assert response.headers["deprecation"].startswith("@")
    link = response.headers["link"]
    assert link.startswith(f"<{legacy_server.base_url}/{successor}") and link.endswith(
        '>; rel="successor-version"'
    )


def test_status_and_lists_in_the_old_shapes(system: httpx.Client, legacy_server: SecuredServer) -> None:
    status = system.get("/api/status")
    assert status.json() == {"status": "running", "database": "connected"}
    _deprecated(status, legacy_server, "metadata")

    hospitals = system.get("/api/hospitals")
    assert hospitals.status_code == 200
    _deprecated(hospitals, legacy_server, "Organization")
    by_id = {h["id"]: h for h in hospitals.json()}
    assert {"HOS-001", "HOS-002", "HOS-003"} <= set(by_id)
    assert all(set(h) == HOSPITAL_KEYS for h in hospitals.json())
    assert by_id["HOS-001"] | {"created_date": None} == {
        "id": "HOS-001",
        "name": "General Hospital",
        "address": "123 Medical St",
        "phone": "+255-22-1234567",
        "email": "admin@hospital.org",
        "created_date": None,
    }

    patients = system.get("/api/patients")
    _deprecated(patients, legacy_server, "Patient")
    rows = {p["id"]: p for p in patients.json()}
    assert {JOHN, AMINA, BARAKA} <= set(rows)
    assert all(set(p) == PATIENT_KEYS for p in patients.json())
    assert rows[JOHN] == {
        "id": JOHN,
        "national_id": JOHN_NID,
        "first_name": "John",
        "last_name": "Doe",
        "date_of_birth": "1990-05-15",
        "gender": "M",
        "phone": "+255712345678",
    }


def test_patient_details_by_old_id_and_fhir_id(system: httpx.Client, legacy_server: SecuredServer) -> None:
    response = system.get(f"/api/patients/{JOHN}")
    assert response.status_code == 200
    assert response.json()["id"] == JOHN and response.json()["national_id"] == JOHN_NID
    _deprecated(response, legacy_server, "Patient?identifier=")
    assert system.get("/api/patients/legacy-pat-901234").json() == response.json()
    missing = system.get("/api/patients/PAT-000000")
    assert missing.status_code == 404
    assert missing.json()["resourceType"] == "OperationOutcome"
    _deprecated(missing, legacy_server, "Patient?identifier=")


def test_hospital_studies_and_the_fhir_link_agree(
    system: httpx.Client, fhir: httpx.Client, legacy_server: SecuredServer
) -> None:
    response = system.get("/api/hospitals/HOS-001/studies")
    assert response.status_code == 200
    rows = {s["id"]: s for s in response.json()}
    assert set(rows) == {"STU-20240115103000", "STU-20240410080000"}
    assert rows["STU-20240115103000"] == {
        "id": "STU-20240115103000",
        "patient_id": JOHN,
        "hospital_id": "HOS-001",
        "study_date": "2024-01-15 10:30:00",
        "modality": "XR",
        "description": "Chest X-Ray",
        "orthanc_study_id": rows["STU-20240115103000"]["orthanc_study_id"],
        "patient_name": "John Doe",
        "national_id": JOHN_NID,
    }
    successor = response.headers["link"].split(">", 1)[0].lstrip("<")
    bundle = fhir.get(successor).json()
    assert {e["resource"]["id"] for e in bundle["entry"]} == {
        "legacy-stu-20240115103000",
        "legacy-stu-20240410080000",
    }
    assert system.get("/api/hospitals/HOS-404/studies").status_code == 404


@pytest.mark.parametrize("query", [f"national_id={JOHN_NID}", f"patient_id={JOHN}"])
def test_federation_query_in_the_old_readme_shape(
    system: httpx.Client, fhir: httpx.Client, legacy_server: SecuredServer, query: str
) -> None:
    response = system.get(f"/api/federation/query?{query}")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"patient", "studies", "total_studies", "hospitals_accessed"}
    assert body["patient"] == {"id": JOHN, "name": "John Doe", "national_id": JOHN_NID}
    assert body["total_studies"] == 2 and body["hospitals_accessed"] == 2
    studies = {s["study_id"]: s for s in body["studies"]}
    assert all(set(s) == STUDY_KEYS for s in body["studies"])
    assert studies["STU-20240115103000"]["hospital_name"] == "General Hospital"
    assert studies["STU-20240220091500"]["hospital_id"] == "HOS-002"
    assert studies["STU-20240220091500"]["modality"] == "CT"
    successor = response.headers["link"].split(">", 1)[0].lstrip("<")
    bundle = fhir.get(successor).json()
    matched = {e["resource"]["id"] for e in bundle["entry"] if e["search"]["mode"] == "match"}
    assert matched == {"legacy-stu-20240115103000", "legacy-stu-20240220091500"}


def test_federation_query_needs_a_criterion_and_answers_nothing_for_nobody(system: httpx.Client) -> None:
    missing = system.get("/api/federation/query")
    assert missing.status_code == 400 and missing.json()["issue"][0]["expression"] == ["national_id"]
    nobody = system.get("/api/federation/query?national_id=000").json()
    assert nobody == {
        "patient": {"id": None, "name": None, "national_id": None},
        "studies": [],
        "total_studies": 0,
        "hospitals_accessed": 0,
    }


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/hospitals"),
        ("POST", "/api/hospitals"),
        ("GET", "/api/patients"),
        ("POST", "/api/patients"),
        ("GET", f"/api/patients/{JOHN}"),
        ("GET", "/api/hospitals/HOS-001/studies"),
        ("POST", "/api/hospitals/HOS-001/studies"),
        ("GET", f"/api/federation/query?national_id={JOHN_NID}"),
        ("GET", f"/api/patients/{JOHN}/qr"),
        ("GET", "/api/studies/STU-20240115103000/qr"),
    ],
)
def test_without_a_token_every_old_call_is_401(legacy_server: SecuredServer, method: str, path: str) -> None:
    response = _api(legacy_server, None).request(method, path, json={})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["resourceType"] == "OperationOutcome"


def test_a_patient_token_sees_only_its_patient(john: httpx.Client) -> None:
    patients = john.get("/api/patients").json()
    assert [p["id"] for p in patients] == [JOHN]
    assert john.get(f"/api/patients/{JOHN}").status_code == 200
    other = john.get(f"/api/patients/{AMINA}")
    assert other.status_code == 404
    assert other.json()["issue"][0]["diagnostics"] == john.get("/api/patients/PAT-000000").json()["issue"][0][
        "diagnostics"
    ].replace("PAT-000000", AMINA)
    # HOS-001 holds John's and Baraka's studies: John's token lists only his.
    assert [s["id"] for s in john.get("/api/hospitals/HOS-001/studies").json()] == ["STU-20240115103000"]
    assert john.get("/api/hospitals/HOS-003/studies").json() == []
    mine = john.get(f"/api/federation/query?national_id={JOHN_NID}").json()
    assert mine["total_studies"] == 2 and mine["hospitals_accessed"] == 2
    for query in (
        f"national_id={AMINA_NID}",
        f"patient_id={AMINA}",
        f"national_id={JOHN_NID}&patient_id={AMINA}",
    ):
        theirs = john.get(f"/api/federation/query?{query}").json()
        assert theirs == {
            "patient": {"id": None, "name": None, "national_id": None},
            "studies": [],
            "total_studies": 0,
            "hospitals_accessed": 0,
        }
    assert john.get(f"/api/patients/{AMINA}/qr").status_code == 404
    assert john.get("/api/studies/STU-20240305140000/qr").status_code == 404


def test_a_patient_token_cannot_register(john: httpx.Client) -> None:
    nid = f"1{uuid.uuid4().int % 10**17:017d}"
    response = john.post("/api/patients", json={"national_id": nid, "first_name": "X", "last_name": "Y"})
    assert response.status_code in (403, 404)
    assert john.post("/api/hospitals", json={"id": "HOS-777", "name": "Nope"}).status_code in (403, 404)


def _patient_body(national_id: str) -> dict[str, Any]:
    return {
        "national_id": national_id,
        "first_name": "Neema",
        "last_name": "Juma",
        "date_of_birth": "1995-03-02",
        "gender": "F",
        "phone": "+255700000001",
    }


def test_writes_create_fhir_resources(system: httpx.Client, fhir: httpx.Client) -> None:
    suffix = f"{uuid.uuid4().int % 10**6:06d}"
    hospital_id = f"HOS-T{suffix}"
    national_id = f"19950302{uuid.uuid4().int % 10**4:04d}{suffix}"
    hospital = system.post(
        "/api/hospitals", json={"id": hospital_id, "name": "Test Clinic", "phone": "+255-1"}
    )
    assert hospital.status_code == 201 and hospital.json() == {"message": "Hospital registered successfully"}
    patient = system.post("/api/patients", json=_patient_body(national_id))
    assert patient.status_code == 201
    assert patient.json() == {"message": "Patient registered", "patient_id": f"PAT-{suffix}"}
    study = system.post(
        f"/api/hospitals/{hospital_id}/studies",
        json={
            "patient_id": f"PAT-{suffix}",
            "study_date": "2024-06-01 09:30:00",
            "modality": "CT",
            "description": "CT chest",
            "orthanc_study_id": "orthanc-xyz",
        },
    )
    assert study.status_code == 201 and study.json()["message"] == "Study registered"
    study_id = study.json()["study_id"]
    assert study_id.startswith("STU-")

    found = fhir.get("/Patient", params={"identifier": f"{LEGACY_PATIENT_ID}|PAT-{suffix}"}).json()
    (entry,) = found["entry"]
    assert entry["resource"]["name"] == [{"family": "Juma", "given": ["Neema"]}]
    assert entry["resource"]["gender"] == "female" and entry["resource"]["birthDate"] == "1995-03-02"
    studies = fhir.get(
        "/ImagingStudy",
        params={
            "identifier": f"{LEGACY_STUDY_ID}|{study_id}",
            "_include": "ImagingStudy:endpoint",
            "_include:iterate": "Endpoint:organization",
        },
    ).json()
    resources = {e["resource"]["resourceType"]: e["resource"] for e in studies["entry"]}
    assert resources["ImagingStudy"]["subject"] == {"reference": f"Patient/{entry['resource']['id']}"}
    assert resources["ImagingStudy"]["started"].startswith("2024-06-01T09:30:00")
    assert resources["Organization"]["name"] == "Test Clinic"
    history = fhir.get(f"/Patient/{entry['resource']['id']}/_history").json()
    assert history["entry"][0]["request"]["method"] == "POST"

    listed = system.get(f"/api/hospitals/{hospital_id}/studies").json()
    assert [s["id"] for s in listed] == [study_id]
    assert listed[0]["orthanc_study_id"] == "orthanc-xyz" and listed[0]["patient_id"] == f"PAT-{suffix}"
    fed = system.get(f"/api/federation/query?national_id={national_id}").json()
    assert fed["total_studies"] == 1 and fed["studies"][0]["hospital_id"] == hospital_id

    again = system.post("/api/patients", json=_patient_body(national_id))
    assert again.status_code == 409
    assert system.post("/api/hospitals", json={"id": hospital_id, "name": "Twice"}).status_code == 409
    assert (
        len(fhir.get("/Patient", params={"identifier": f"{LEGACY_PATIENT_ID}|PAT-{suffix}"}).json()["entry"])
        == 1
    )


@pytest.mark.parametrize(
    ("path", "body", "expression"),
    [
        ("/api/patients", {"first_name": "A", "last_name": "B"}, "national_id"),
        ("/api/patients", {"national_id": "1234567", "first_name": "A", "last_name": 5}, "last_name"),
        ("/api/patients", {"national_id": "1234567", "first_name": "A", "last_name": "B", "dob": "x"}, "dob"),
        (
            "/api/patients",
            {"national_id": "1234567", "first_name": "A", "last_name": "B", "gender": "x"},
            "gender",
        ),
        (
            "/api/patients",
            {"national_id": "1234567", "first_name": "A", "last_name": "B", "date_of_birth": "May"},
            "date_of_birth",
        ),
        ("/api/hospitals/HOS-001/studies", {"patient_id": "PAT-901234", "study_date": "soon"}, "study_date"),
        ("/api/hospitals", {"name": "No id"}, "id"),
        ("/api/hospitals", {"id": "HOS 9/x", "name": "Bad id"}, "id"),
        ("/api/hospitals/HOS-001/studies", {"modality": "CT"}, "patient_id"),
        ("/api/hospitals/HOS-001/studies", {"patient_id": "PAT-000000"}, "patient_id"),
    ],
)
def test_bad_old_bodies_name_the_field(
    system: httpx.Client, path: str, body: dict[str, Any], expression: str
) -> None:
    response = system.post(path, json=body)
    assert 400 <= response.status_code < 500
    assert response.json()["resourceType"] == "OperationOutcome"
    assert response.json()["issue"][0]["expression"] == [expression]
    assert "deprecation" in response.headers


def test_a_malformed_body_is_400(system: httpx.Client) -> None:
    response = system.post("/api/patients", content=b"{nope", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert system.post("/api/patients", json=["a"]).status_code == 400


def test_a_patient_token_cannot_name_another_patient_in_a_study(john: httpx.Client) -> None:
    def register(patient_id: str) -> httpx.Response:
        return john.post("/api/hospitals/HOS-001/studies", json={"patient_id": patient_id, "modality": "CT"})

    hidden, absent = register(AMINA), register("PAT-000000")
    assert hidden.status_code == absent.status_code == 404
    assert hidden.json()["issue"][0]["expression"] == ["patient_id"]
    assert hidden.json()["issue"][0]["diagnostics"] == absent.json()["issue"][0]["diagnostics"].replace(
        "PAT-000000", AMINA
    )


def test_old_writes_and_merge_patches_are_audited(
    system: httpx.Client, fhir: httpx.Client, legacy_server: SecuredServer
) -> None:
    suffix = f"{uuid.uuid4().int % 10**6:06d}"
    assert system.post("/api/patients", json=_patient_body(f"19800101{suffix}")).status_code == 201
    (entry,) = fhir.get("/Patient", params={"identifier": f"{LEGACY_PATIENT_ID}|PAT-{suffix}"}).json()[
        "entry"
    ]
    reference = f"Patient/{entry['resource']['id']}"
    merge = {"Content-Type": "application/merge-patch+json", "If-Match": 'W/"1"'}
    patched = fhir.patch(f"/{reference}", json={"birthDate": "1980-01-01", "telecom": None}, headers=merge)
    assert patched.status_code == 200 and "telecom" not in patched.json()
    with legacy_server.client(legacy_server.mint("admin system/*.cruds", role=None)) as admin:
        events = admin.get("/AuditEvent", params={"entity": reference}).json()
    actions = sorted(e["resource"].get("action") for e in events.get("entry", []))
    assert "C" in actions and "U" in actions, events


def test_two_identical_registrations_at_once_make_one_patient(
    system: httpx.Client, fhir: httpx.Client
) -> None:
    suffix = f"{uuid.uuid4().int % 10**6:06d}"
    body = _patient_body(f"19700101{suffix}")
    with ThreadPoolExecutor(max_workers=2) as pool:
        statuses = sorted(pool.map(lambda _: system.post("/api/patients", json=body).status_code, range(2)))
    assert statuses == [201, 409]
    found = fhir.get("/Patient", params={"identifier": f"{LEGACY_PATIENT_ID}|PAT-{suffix}"}).json()
    assert len(found["entry"]) == 1
