"""One person, several hospitals: identity rules per hospital in the sync, possible duplicates found and
listed (never merged by guess), Patient/$merge with preview, and the federation query, reads and
$everything following the merge. End to end: real Orthancs, the real sync, the secured server over HTTP."""

from __future__ import annotations

from typing import Any

from fhir_server.dicomweb.ids import hospital_patient_id_system
from tests.fhir_server.dicomweb.dicom_samples import SamplePatient
from tests.fhir_server.patients.identity_world import NATIONAL, WEST_NATIONAL_ISSUER, World

FHIR_JSON = {"Content-Type": "application/fhir+json"}


def _search(world: World, path: str, **params: str) -> dict[str, Any]:
    with world.client() as client:
        response = client.get(f"/fhir/{path}", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _read(world: World, reference: str) -> dict[str, Any]:
    with world.client() as client:
        response = client.get(f"/fhir/{reference}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _resources(bundle: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", []) if e["resource"]["resourceType"] == resource_type]


def _federation_query(world: World, national_id: str) -> list[dict[str, Any]]:
    bundle = _search(world, "ImagingStudy", **{"patient.identifier": f"{NATIONAL}|{national_id}"})
    return _resources(bundle, "ImagingStudy")


def _study_id(world: World, uid: str) -> str:
    bundle = _search(world, "ImagingStudy", identifier=f"urn:dicom:uid|urn:oid:{uid}")
    studies = _resources(bundle, "ImagingStudy")
    assert len(studies) == 1, bundle
    return str(studies[0]["id"])


def _merge(world: World, parameters: list[dict[str, Any]], scope: str | None = None, **kw: Any) -> Any:
    client = world.client(scope, **kw) if scope else world.client()
    with client:
        return client.post(
            "/fhir/Patient/$merge",
            json={"resourceType": "Parameters", "parameter": parameters},
            headers=FHIR_JSON,
        )


def _references(source: str, target: str, *, preview: bool = False) -> list[dict[str, Any]]:
    return [
        {"name": "source-patient", "valueReference": {"reference": source}},
        {"name": "target-patient", "valueReference": {"reference": target}},
        {"name": "preview", "valueBoolean": preview},
    ]


def _part(parameters: dict[str, Any], name: str) -> Any:
    return next(p for p in parameters["parameter"] if p["name"] == name)["resource"]


def _candidates(world: World, status: str = "open") -> list[dict[str, Any]]:
    with world.client() as client:
        response = client.get("/admin/patient-matches", params={"status": status})
    assert response.status_code == 200, response.text
    listed: list[dict[str, Any]] = response.json()["candidates"]
    return listed


def _candidate_for(world: World, patient: str, status: str = "open") -> dict[str, Any]:
    found = [
        c
        for c in _candidates(world, status)
        if patient in (c["source"]["reference"], c["target"]["reference"])
    ]
    assert len(found) == 1, found
    return found[0]


def test_national_id_in_patient_id_and_in_other_patient_ids_make_one_patient(world: World) -> None:
    national = "19700101-5555"
    # East writes the national ID as PatientID; West has its own number and the national ID under "NIDA".
    east_uid = world.store_study(
        world.east, SamplePatient(national, "Doe^John", "19700101", "M"), "CT head at East"
    )
    west_uid = world.store_study(
        world.west,
        SamplePatient("W-42", "DOE^JOHN", "19700101", "M", national, WEST_NATIONAL_ISSUER),
        "CT follow-up at West",
    )
    world.sync(world.east)
    world.sync(world.west)

    patients = _resources(_search(world, "Patient", identifier=f"{NATIONAL}|{national}"), "Patient")
    assert len(patients) == 1, patients
    john = patients[0]
    identifiers = {(i["system"], i["value"]) for i in john["identifier"]}
    assert (NATIONAL, national) in identifiers
    assert (hospital_patient_id_system("HOS-E01"), national) in identifiers  # East's own id for him
    studies = _federation_query(world, national)
    assert {s["id"] for s in studies} == {_study_id(world, east_uid), _study_id(world, west_uid)}
    assert {s["subject"]["reference"] for s in studies} == {f"Patient/{john['id']}"}
    assert {s["endpoint"][0]["reference"] for s in studies} == {
        f"Endpoint/{world.east.wado_endpoint_id}",
        f"Endpoint/{world.west.wado_endpoint_id}",
    }
    # Same person, one record: nothing for a person to review.
    assert not [c for c in _candidates(world, "all") if f"Patient/{john['id']}" in str(c)]


def test_possible_duplicate_is_listed_previewed_merged_and_followed(world: World) -> None:
    national = "19800202-7777"
    mary = world.create_patient("Major-Smith", "Mary", "1980-02-02", "female", national)
    # At East the national ID joins her study to her record; West's RIS sent no national ID at all.
    east_uid = world.store_study(
        world.east, SamplePatient(national, "MAJOR-SMITH^MARY", "19800202", "F"), "MR knee at East"
    )
    # Upper case and a space for the hyphen: still the same name once normalized.
    west_mary = SamplePatient("W-100", "MAJOR SMITH^MARY", "19800202", "F")
    west_uid = world.store_study(world.west, west_mary, "CT chest at West")
    world.sync(world.east, world.west)
    east_study, west_study = _study_id(world, east_uid), _study_id(world, west_uid)
    assert [s["id"] for s in _federation_query(world, national)] == [east_study]

    # Found, not merged: the sync made a hospital-local Patient and recorded a candidate.
    candidate = _candidate_for(world, f"Patient/{mary}")
    source = candidate["source"]["reference"]
    assert candidate["target"]["reference"] == f"Patient/{mary}"
    assert candidate["status"] == "open"
    assert candidate["hospital"]["name"] == "West Clinic"
    assert candidate["source"]["name"] == "MARY MAJOR SMITH" and candidate["source"]["nationalId"] is None
    assert candidate["target"]["nationalId"] == national
    assert candidate["source"]["birthDate"] == candidate["target"]["birthDate"] == "1980-02-02"
    assert [s["reference"] for s in candidate["source"]["studies"]] == [f"ImagingStudy/{west_study}"]
    assert [s["reference"] for s in candidate["target"]["studies"]] == [f"ImagingStudy/{east_study}"]
    assert candidate["source"]["studies"][0]["hospital"] == "West Clinic"
    target_before = _read(world, f"Patient/{mary}")

    # Preview, by identifiers this time: the answer says what would change; nothing is written.
    preview = _merge(
        world,
        [
            {
                "name": "source-patient-identifier",
                "valueIdentifier": {"system": hospital_patient_id_system("HOS-W01"), "value": "W-100"},
            },
            {"name": "target-patient-identifier", "valueIdentifier": {"system": NATIONAL, "value": national}},
            {"name": "preview", "valueBoolean": True},
        ],
    )
    assert preview.status_code == 200, preview.text
    would_be = _part(preview.json(), "result")
    assert {"other": {"reference": source}, "type": "replaces"} in would_be["link"]
    assert {
        "system": hospital_patient_id_system("HOS-W01"),
        "value": "W-100",
        "use": "old",
    } in would_be["identifier"]
    outcome = _part(preview.json(), "outcome")
    assert "Preview only, nothing was written" in outcome["issue"][0]["diagnostics"]
    assert any(f"ImagingStudy/{west_study}" in i["diagnostics"] for i in outcome["issue"])
    assert _part(preview.json(), "input")["parameter"][2] == {"name": "preview", "valueBoolean": True}
    assert _read(world, f"Patient/{mary}")["meta"] == target_before["meta"]
    assert "link" not in _read(world, source) and _read(world, source).get("active", True)
    assert _read(world, f"ImagingStudy/{west_study}")["subject"] == {"reference": source}

    merged = _merge(world, _references(source, f"Patient/{mary}"))
    assert merged.status_code == 200, merged.text
    result = _part(merged.json(), "result")
    assert result["id"] == mary and result["meta"]["versionId"] != target_before["meta"]["versionId"]

    # The federation query now finds both hospitals' studies, under Mary.
    studies = _federation_query(world, national)
    assert {s["id"] for s in studies} == {east_study, west_study}
    assert {s["subject"]["reference"] for s in studies} == {f"Patient/{mary}"}
    old = _read(world, source)
    assert old["active"] is False
    assert old["link"] == [{"other": {"reference": f"Patient/{mary}"}, "type": "replaced-by"}]
    assert {"other": {"reference": source}, "type": "replaces"} in _read(world, f"Patient/{mary}")["link"]
    # The hospital-local id finds the survivor too.
    by_local = _search(world, "ImagingStudy", **{"patient.identifier": "W-100"})
    assert {s["id"] for s in _resources(by_local, "ImagingStudy")} == {east_study, west_study}

    # $everything on the old record shows where everything went.
    everything = _search(world, f"{source}/$everything")
    assert {p["id"] for p in _resources(everything, "Patient")} == {source.split("/")[1], mary}
    assert {s["id"] for s in _resources(everything, "ImagingStudy")} == {east_study, west_study}

    # Decided: the candidate is merged, and the merge is in the audit log.
    assert _candidate_for(world, f"Patient/{mary}", "merged")["mergedInto"] == f"Patient/{mary}"
    assert not [c for c in _candidates(world) if c["id"] == candidate["id"]]
    with world.client() as client:
        events = client.get("/fhir/AuditEvent", params={"entity": source}).json()
    descriptions = [e["resource"].get("outcomeDesc", "") for e in events.get("entry", [])]
    assert any(d.startswith("Patient/$merge: ") and f"Patient/{mary}" in d for d in descriptions), (
        descriptions
    )

    # A new study of West's W-100 goes straight to Mary: the sync follows the merge.
    later_uid = world.store_study(world.west, west_mary, "CT chest follow-up at West")
    world.sync(world.west)
    later = _read(world, f"ImagingStudy/{_study_id(world, later_uid)}")
    assert later["subject"] == {"reference": f"Patient/{mary}"}
    assert len(_federation_query(world, national)) == 3

    # Merging it again is refused: it was merged already.
    again = _merge(world, _references(source, f"Patient/{mary}"))
    assert again.status_code == 422, again.text


def test_dismissed_candidate_stays_dismissed_and_different_national_ids_are_no_candidate(
    world: World,
) -> None:
    lars = world.create_patient("Olsen", "Lars", "1972-01-01", "male", "19720101-1111")
    world.store_study(world.west, SamplePatient("W-200", "OLSEN^LARS^ERIK", "19720101", "M"), "XR hand")
    # Same name, birthday and sex, but a different national ID: two people, never a candidate.
    other_national = "19720101-9999"
    world.store_study(world.east, SamplePatient(other_national, "Olsen^Lars", "19720101", "M"), "XR foot")
    world.sync(world.west, world.east)
    other = _resources(_search(world, "Patient", identifier=f"{NATIONAL}|{other_national}"), "Patient")[0]

    candidate = _candidate_for(world, f"Patient/{lars}")
    pairs = [{c["source"]["reference"], c["target"]["reference"]} for c in _candidates(world, "all")]
    assert {f"Patient/{other['id']}", f"Patient/{lars}"} not in pairs
    with world.client() as client:
        dismissed = client.post(f"/admin/patient-matches/{candidate['id']}/dismiss")
        assert dismissed.status_code == 200, dismissed.text
        assert dismissed.json()["status"] == "dismissed"
        assert dismissed.json()["decidedBy"] == "tester" and dismissed.json()["decidedAt"]
        assert client.post("/admin/patient-matches/pm-nothing/dismiss").status_code == 404
    assert not [c for c in _candidates(world) if c["id"] == candidate["id"]]
    assert _candidate_for(world, f"Patient/{lars}", "dismissed")["id"] == candidate["id"]

    # Another study of the same West patient: matched by West's id, the decision stands.
    world.store_study(world.west, SamplePatient("W-200", "OLSEN^LARS^ERIK", "19720101", "M"), "XR wrist")
    world.sync(world.west)
    assert _candidate_for(world, f"Patient/{lars}", "dismissed")["id"] == candidate["id"]


def test_only_callers_who_may_write_both_patients_and_their_studies_merge(world: World) -> None:
    anna = world.create_patient("Berg", "Anna", "1990-09-09", "female", "19900909-3333")
    world.store_study(world.west, SamplePatient("W-300", "BERG^ANNA", "19900909", "F"), "US abdomen")
    world.sync(world.west)
    source = _candidate_for(world, f"Patient/{anna}")["source"]["reference"]
    parameters = _references(source, f"Patient/{anna}")

    # The source's own patient token: a patient-level token can never move every study of a patient, so the
    # token alone refuses it, before any patient is looked up (nothing to learn about the target).
    own = _merge(world, parameters, "patient/*.cruds", patient=source.split("/")[1])
    assert own.status_code == 403, own.text
    # A read-only patient token is refused on its scopes.
    assert _merge(world, parameters, "patient/*.rs", patient=source.split("/")[1]).status_code == 403
    # Read access to everything is not write access.
    assert _merge(world, parameters, "system/*.rs").status_code == 403
    # The admin listing needs the admin scope.
    with world.client("system/*.cruds") as client:
        assert client.get("/admin/patient-matches").status_code == 403
    # Nothing changed; the candidate is still open.
    assert _read(world, source).get("active", True) is True
    assert _candidate_for(world, f"Patient/{anna}")["status"] == "open"


def test_bad_merge_requests_are_400s_naming_the_parameter(world: World) -> None:
    bad_reference = _merge(world, _references("Organization/x", "Patient/y"))
    assert bad_reference.status_code == 400, bad_reference.text
    same = _merge(world, _references("Patient/a1", "Patient/a1"))
    assert same.status_code == 400, same.text
    missing = _merge(world, [{"name": "target-patient", "valueReference": {"reference": "Patient/y"}}])
    assert missing.status_code == 400
    assert "source-patient" in missing.json()["issue"][0]["diagnostics"]
    unknown = _merge(world, [*_references("Patient/a", "Patient/b"), {"name": "color", "valueString": "x"}])
    assert unknown.status_code == 400
    assert _merge(world, _references("Patient/nobody-1", "Patient/nobody-2")).status_code == 404


def test_capability_statement_lists_patient_merge(world: World) -> None:
    with world.client() as client:
        statement = client.get("/fhir/metadata").json()
    patient = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Patient")
    assert {
        "name": "merge",
        "definition": "http://hl7.org/fhir/OperationDefinition/Patient-merge",
    } in patient["operation"]
