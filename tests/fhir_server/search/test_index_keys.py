"""Which keys are indexed (`sp.k`) and which are only tested (`sp.t`), and the invariant that makes that
safe: every key left out of the index is driven by an indexed key the same resource has."""

from __future__ import annotations

from typing import Any

import pytest

from fhir_server.search import extract
from fhir_server.search import keys as k
from fhir_server.search.extract import resource_keys, split_resource_keys
from fhir_server.search.index import SearchIndexer
from fhir_server.search.registry import SearchParam, parameters_of
from mappers.legacy import patient_to_patient, study_to_imaging_study

V2 = "http://terminology.hl7.org/CodeSystem/v2-0203"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
META = {"lastUpdated": "2024-05-01T10:00:00.123Z", "tag": [{"system": "urn:t", "code": "x", "display": "X"}]}

PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "id": "p1",
    "meta": META,
    "identifier": [
        {
            "type": {"coding": [{"system": V2, "code": "NI"}], "text": "National"},
            "system": "urn:n",
            "value": "1",
        },
        {"value": "no-system"},
    ],
    "name": [{"family": "Müller", "given": ["Åse", "Karin"], "prefix": ["Dr."]}],
    "telecom": [{"system": "phone", "value": "+47 1"}, {"system": "email", "value": "A@B.org"}],
    "gender": "female",
    "birthDate": "1990-05-01",
    "address": [{"city": "Oslo", "postalCode": "0150", "state": "Oslo", "country": "NO", "use": "home"}],
    "managingOrganization": {"reference": "Organization/o1"},
    "generalPractitioner": [{"identifier": {"system": "urn:gp", "value": "GP-1"}}],
    "communication": [
        {"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "nb"}], "text": "Norsk"}}
    ],
}
STUDY: dict[str, Any] = {
    "resourceType": "ImagingStudy",
    "id": "s1",
    "meta": META,
    "identifier": [{"system": "urn:legacy", "value": "STU-1"}],
    "status": "available",
    "modality": [{"system": DCM, "code": "CT", "display": "Computed Tomography"}],
    "subject": {"reference": "Patient/p1"},
    "started": "2024-01-15T10:30:00+03:00",
    "endpoint": [{"reference": "Endpoint/e1"}],
    "series": [{"uid": "1.2", "modality": {"system": DCM, "code": "MR"}}],
}
LOGICAL_SUBJECT: dict[str, Any] = {
    "resourceType": "ImagingStudy",
    "id": "s2",
    "meta": META,
    "status": "registered",
    "subject": {"type": "Patient", "identifier": {"system": "urn:n", "value": "1"}},
}
ORGANIZATION: dict[str, Any] = {
    "resourceType": "Organization",
    "id": "o1",
    "meta": META,
    "name": "North Hospital",
    "address": [{"text": "1 Main St", "city": "Dar"}],
    "type": [{"text": "Hospital"}],
}
ENDPOINT: dict[str, Any] = {
    "resourceType": "Endpoint",
    "id": "e1",
    "meta": META,
    "status": "active",
    "connectionType": {"system": "urn:ct", "code": "dicom-wado-rs"},
    "payloadType": [{"text": "DICOM"}],
    "address": "https://pacs.example.org",
    "managingOrganization": {"reference": "Organization/o1"},
}
RESOURCES = [PATIENT, STUDY, LOGICAL_SUBJECT, ORGANIZATION, ENDPOINT]


def _driver(param: SearchParam, key: str) -> str:
    """The indexed key a search drives with for `key` (the rules of fhir_server.search.compile, restated)."""
    name = param.indexed_as or param.name
    rest = key[len(param.name) :]
    if param.type == "token" and rest.startswith("="):
        return k.code_key(name, rest[1:].split("|", 1)[1])
    if param.type == "token" and rest.startswith(":type="):
        return k.code_key(name, rest.rsplit("|", 1)[1])
    return name + rest


@pytest.mark.parametrize("resource", RESOURCES, ids=[r["id"] for r in RESOURCES])
def test_every_unindexed_key_is_driven_by_an_indexed_key_of_the_same_resource(
    resource: dict[str, Any],
) -> None:
    split = split_resource_keys(resource)
    params = parameters_of(resource["resourceType"])
    assert split.unindexed, "the sample should exercise unindexed keys"
    for key in split.unindexed:
        assert _driver(params[k.param_name(key)], key) in split.indexed, key
    assert not set(split.indexed) & set(split.unindexed)
    assert resource_keys(resource) == (sorted([*split.indexed, *split.unindexed]), split.exact)


def test_a_study_indexes_one_key_per_value_it_can_be_found_by() -> None:
    split = split_resource_keys(STUDY)
    assert split.indexed == [
        "_id:code=s1",
        "_lastUpdated:hi=2024-05-01T10:00:00.123Z|2024-05-01T10:00:00.123Z",
        "_lastUpdated:lo=2024-05-01T10:00:00.123Z|2024-05-01T10:00:00.123Z",
        "_tag:code=x",
        "_tag:text=x",
        "endpoint=Endpoint/e1",
        "identifier:code=STU-1",
        "modality:code=CT",
        "modality:code=MR",
        "modality:text=computed tomography",
        "series:code=1.2",
        "started:hi=2024-01-15T07:30:00.999Z|2024-01-15T07:30:00.000Z",
        "started:lo=2024-01-15T07:30:00.000Z|2024-01-15T07:30:00.999Z",
        "status:code=available",
        "subject=Patient/p1",
    ]
    assert "patient=Patient/p1" in split.unindexed
    assert (
        f"modality={DCM}|CT" in split.unindexed
        and "status=http://hl7.org/fhir/imagingstudy-status|available" in split.unindexed
    )


def test_patient_contacts_and_address_parts_are_driven_by_the_whole() -> None:
    split = split_resource_keys(PATIENT)
    for key in ("phone:code=+47 1", "email:code=a@b.org", "address-city=oslo"):
        assert key in split.unindexed and key not in split.indexed
    for key in ("telecom:code=+47 1", "telecom:code=a@b.org", "address=oslo"):
        assert key in split.indexed
    # Driven by `name`, family/given prefix searches read and tested twice the candidates (measured).
    for key in ("family=muller", "given=ase", "given=karin", "name=muller", "name=ase"):
        assert key in split.indexed and key not in split.unindexed
    assert f"identifier:type={V2}|NI|1" in split.unindexed and "identifier:code=1" in split.indexed
    # Indexed both ways: end-ordered _lastUpdated ranges driven by `:lo` made searches slower (measured).
    assert "_lastUpdated:hi=2024-05-01T10:00:00.123Z|2024-05-01T10:00:00.123Z" in split.indexed


def test_index_values_store_the_split() -> None:
    values = SearchIndexer().index_values(STUDY)
    split = split_resource_keys(STUDY)
    assert values == {"k": split.indexed, "t": split.unindexed, "x": split.exact}


def test_legacy_import_resources_index_the_keys_they_are_searched_by() -> None:
    # What every resource of a legacy import costs the database's search index (bench/import_bench.py):
    # before the split a study had 15 indexed keys and a patient 25.
    patient = patient_to_patient(
        {
            "id": "PAT-1",
            "national_id": "19850312-1234",
            "first_name": "Amina",
            "last_name": "Doe",
            "date_of_birth": "1985-03-12",
            "gender": "F",
            "phone": "+255712000000",
        },
        national_id_system="urn:national",
    ).resource
    study = study_to_imaging_study(
        {
            "id": "STU-1",
            "patient_id": "PAT-1",
            "hospital_id": "HOS-1",
            "study_date": "2024-01-15 10:30:00",
            "modality": "XR",
            "description": "Chest",
        },
        patients={"PAT-1": "legacy-pat-1"},
        hospitals={"HOS-1": "legacy-hos-1"},
        modality_to_dcm={"XR": ("DX", "Digital Radiography")}.get,
    ).resource
    assert patient is not None and study is not None
    indexed = {
        r["resourceType"]: split_resource_keys(
            {**r, "meta": {"lastUpdated": "2024-05-01T10:00:00.123Z"}}
        ).indexed
        for r in (patient, study)
    }
    assert [key.split("=")[0] for key in indexed["Patient"]] == [
        "_id:code",
        "_lastUpdated:hi",
        "_lastUpdated:lo",
        "birthdate:hi",
        "birthdate:lo",
        "deceased:code",
        "family",
        "gender:code",
        "given",
        "identifier:code",
        "identifier:code",
        "name",
        "name",
        "phonetic",
        "phonetic",
        "telecom:code",
    ]
    assert [key.split("=")[0] for key in indexed["ImagingStudy"]] == [
        "_id:code",
        "_lastUpdated:hi",
        "_lastUpdated:lo",
        "endpoint",
        "identifier:code",
        "modality:code",
        "modality:text",
        "started:hi",
        "started:lo",
        "status:code",
        "subject",
    ]


@pytest.mark.parametrize(
    "resource", [*RESOURCES, {"resourceType": "Patient", "id": "bare"}], ids=lambda r: r["id"]
)
def test_skipping_absent_elements_changes_no_key(
    resource: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = split_resource_keys(resource)
    monkeypatch.setattr(extract, "top_level_elements", lambda expression: None)
    assert split_resource_keys(resource) == fast
