"""Chaining and reverse chaining (https://hl7.org/fhir/R4/search.html#chaining, #has).

Seeded graph: organizations oa "Alpha General" and ob "Beta Clinic"; endpoints ea (managed by oa) and eb
(by ob); patients pa (identifier A-1, managed by oa) and pb (B-2, managed by ob); studies: sa1 CT of pa at
ea, sa2 MR of pa at eb, sb1 CT of pb at eb.
"""

from __future__ import annotations

import pytest

from tests.fhir_server.search.search_support import Seeder

CONNECTION = {
    "system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
    "code": "dicom-wado-rs",
}


@pytest.fixture(scope="module", autouse=True)
def data(seeder: Seeder) -> None:
    put, ref = seeder.put, seeder.id
    for org, name in (("oa", "Alpha General"), ("ob", "Beta Clinic")):
        put(org, {"resourceType": "Organization", "name": name})
    for endpoint, org in (("ea", "oa"), ("eb", "ob")):
        put(
            endpoint,
            {
                "resourceType": "Endpoint",
                "status": "active",
                "connectionType": CONNECTION,
                "payloadType": [{"text": "DICOM"}],
                "address": f"https://{endpoint}.example.org/dicom-web",
                "managingOrganization": {"reference": f"Organization/{ref(org)}"},
            },
        )
    for patient, value, family, org in (("pa", "A-1", "Andersen", "oa"), ("pb", "B-2", "Berg", "ob")):
        put(
            patient,
            {
                "resourceType": "Patient",
                "identifier": [{"system": seeder.system, "value": value}],
                "name": [{"family": family}],
                "managingOrganization": {"reference": f"Organization/{ref(org)}"},
            },
        )
    for study, patient, modality, endpoint in (
        ("sa1", "pa", "CT", "ea"),
        ("sa2", "pa", "MR", "eb"),
        ("sb1", "pb", "CT", "eb"),
    ):
        put(
            study,
            {
                "resourceType": "ImagingStudy",
                "status": "available",
                "subject": {"reference": f"Patient/{ref(patient)}"},
                "modality": [{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": modality}],
                "endpoint": [{"reference": f"Endpoint/{ref(endpoint)}"}],
            },
        )


@pytest.mark.parametrize(
    ("resource_type", "query", "expected"),
    [
        ("ImagingStudy", "patient.identifier=SYS|A-1", {"sa1", "sa2"}),
        ("ImagingStudy", "patient.identifier=B-2", {"sb1"}),
        ("ImagingStudy", "patient.identifier=SYS|A-1,SYS|B-2", {"sa1", "sa2", "sb1"}),
        ("ImagingStudy", "patient.family=ander", {"sa1", "sa2"}),
        ("ImagingStudy", "subject:Patient.family=berg", {"sb1"}),
        ("ImagingStudy", "subject.family=berg", {"sb1"}),
        ("ImagingStudy", "patient.identifier=SYS|nobody", set()),
        ("ImagingStudy", "patient.identifier=SYS|A-1&modality=CT", {"sa1"}),
        ("ImagingStudy", "endpoint.organization.name=alpha", {"sa1"}),
        ("ImagingStudy", "endpoint.organization.name=beta", {"sa2", "sb1"}),
        ("ImagingStudy", "patient.organization.name=beta", {"sb1"}),
        ("ImagingStudy", "endpoint.organization.name=alpha&patient.family=ander", {"sa1"}),
        ("Endpoint", "organization.name=alpha", {"ea"}),
        ("Patient", "_has:ImagingStudy:patient:modality=CT", {"pa", "pb"}),
        ("Patient", "_has:ImagingStudy:patient:modality=MR", {"pa"}),
        ("Patient", "_has:ImagingStudy:patient:modality=US", set()),
        ("Patient", "_has:ImagingStudy:patient:endpoint.organization.name=alpha", {"pa"}),
        ("Patient", "_has:ImagingStudy:patient:modality=CT&_has:ImagingStudy:patient:modality=MR", {"pa"}),
        ("Organization", "_has:Endpoint:organization:_has:ImagingStudy:endpoint:modality=MR", {"ob"}),
        ("Organization", "_has:Patient:organization:identifier=SYS|A-1", {"oa"}),
    ],
)
def test_chains(seeder: Seeder, resource_type: str, query: str, expected: set[str]) -> None:
    assert seeder.names(resource_type, query.replace("SYS", seeder.system)) == expected


def test_chain_through_an_unknown_parameter_is_ignored_or_refused_under_strict(seeder: Seeder) -> None:
    lenient = seeder.bundle("ImagingStudy", "patient.shoe-size=42")
    assert lenient["total"] == 3
    assert all("shoe-size" not in link["url"] for link in lenient["link"])
    outcome = seeder.error("ImagingStudy", "patient.shoe-size=42", headers={"Prefer": "handling=strict"})
    assert outcome["issue"][0]["expression"] == ["patient.shoe-size"]


def test_has_on_an_unknown_type_is_ignored_or_refused_under_strict(seeder: Seeder) -> None:
    assert seeder.bundle("Patient", "_has:Observation:patient:code=1")["total"] == 2
    seeder.error("Patient", "_has:Observation:patient:code=1", headers={"Prefer": "handling=strict"})


@pytest.mark.parametrize(
    ("resource_type", "query", "expression"),
    [
        ("ImagingStudy", "status.code=x", "status.code"),
        ("ImagingStudy", "subject:Organization.name=x", "subject:Organization.name"),
        ("Patient", "_has:ImagingStudy=x", "_has:ImagingStudy"),
        ("ImagingStudy", "patient.birthdate=notadate", "patient.birthdate"),
    ],
)
def test_malformed_chains_are_400(seeder: Seeder, resource_type: str, query: str, expression: str) -> None:
    assert seeder.error(resource_type, query)["issue"][0]["expression"] == [expression]
