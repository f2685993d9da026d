"""Reference search (https://hl7.org/fhir/R4/search.html#reference): Type/id, bare ids, absolute URLs to
this server, typed modifiers (`subject:Patient`), :identifier and :missing."""

from __future__ import annotations

import pytest

from tests.fhir_server.search.search_support import Seeder


@pytest.fixture(scope="module", autouse=True)
def data(seeder: Seeder) -> None:
    put, ref = seeder.put, seeder.id
    put(
        "o1",
        {
            "resourceType": "Organization",
            "name": "One",
            "partOf": {"reference": f"Organization/{ref('o2')}"},
            "endpoint": [{"reference": f"Endpoint/{ref('e1')}"}],
        },
    )
    put("o2", {"resourceType": "Organization", "name": "Two"})
    put(
        "e1",
        {
            "resourceType": "Endpoint",
            "status": "active",
            "managingOrganization": {"reference": f"Organization/{ref('o1')}"},
            "connectionType": {
                "system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
                "code": "dicom-wado-rs",
            },
            "payloadType": [{"text": "DICOM"}],
            "address": "https://pacs.example.org/dicom-web",
        },
    )
    put(
        "p1",
        {
            "resourceType": "Patient",
            "managingOrganization": {"reference": f"Organization/{ref('o1')}"},
            "generalPractitioner": [
                {"reference": f"Organization/{ref('o2')}"},
                {"reference": f"Practitioner/{ref('dr')}"},
            ],
        },
    )
    put(
        "p2",
        {
            "resourceType": "Patient",
            "managingOrganization": {"reference": f"Organization/{ref('o2')}/_history/1"},
        },
    )
    put(
        "p3",
        {
            "resourceType": "Patient",
            "managingOrganization": {
                "identifier": {"system": f"{seeder.system}:org", "value": "ORG-9"},
                "display": "Not on this server",
            },
        },
    )
    put(
        "p4",
        {
            "resourceType": "Patient",
            "link": [{"other": {"reference": f"Patient/{ref('p1')}"}, "type": "seealso"}],
        },
    )
    put(
        "s1",
        {
            "resourceType": "ImagingStudy",
            "status": "available",
            "subject": {"reference": f"Patient/{ref('p1')}"},
            "endpoint": [{"reference": f"Endpoint/{ref('e1')}"}],
            "referrer": {"reference": f"Practitioner/{ref('dr')}"},
        },
    )
    put(
        "s2",
        {
            "resourceType": "ImagingStudy",
            "status": "available",
            "subject": {"reference": f"Device/{ref('d1')}"},
            "series": [
                {
                    "uid": "1.2.3",
                    "modality": {"code": "CT"},
                    "endpoint": [{"reference": f"Endpoint/{ref('e1')}"}],
                    "performer": [{"actor": {"reference": f"Organization/{ref('o2')}"}}],
                }
            ],
        },
    )
    put(
        "s3",
        {
            "resourceType": "ImagingStudy",
            "status": "available",
            "subject": {"reference": "https://other.example.org/fhir/Patient/123"},
            "basedOn": [{"reference": f"ServiceRequest/{ref('sr')}"}],
            "encounter": {"reference": f"Encounter/{ref('enc')}"},
            "interpreter": [{"reference": f"PractitionerRole/{ref('role')}"}],
        },
    )


def _q(seeder: Seeder, query: str) -> str:
    return query.replace("{", "").replace("}", "").replace("ID:", f"{seeder.prefix}-")


@pytest.mark.parametrize(
    ("resource_type", "query", "expected"),
    [
        ("Patient", "organization=Organization/ID:o1", {"p1"}),
        ("Patient", "organization=ID:o1", {"p1"}),
        ("Patient", "organization:Organization=ID:o1", {"p1"}),
        ("Patient", "organization=Organization/ID:o2", {"p2"}),
        ("Patient", "organization=Organization/ID:o2/_history/1", {"p2"}),
        ("Patient", "organization=Organization/ID:o1,Organization/ID:o2", {"p1", "p2"}),
        ("Patient", "organization:missing=true", {"p3", "p4"}),
        ("Patient", "general-practitioner=Organization/ID:o2", {"p1"}),
        ("Patient", "general-practitioner:Practitioner=ID:dr", {"p1"}),
        ("Patient", "general-practitioner=ID:dr", {"p1"}),
        ("Patient", "link=Patient/ID:p1", {"p4"}),
        ("ImagingStudy", "patient=Patient/ID:p1", {"s1"}),
        ("ImagingStudy", "patient=ID:p1", {"s1"}),
        ("ImagingStudy", "subject=Patient/ID:p1", {"s1"}),
        ("ImagingStudy", "subject:Device=ID:d1", {"s2"}),
        ("ImagingStudy", "patient=Device/ID:d1", set()),
        ("ImagingStudy", "subject=https://other.example.org/fhir/Patient/123", {"s3"}),
        ("ImagingStudy", "patient=https://other.example.org/fhir/Patient/123", {"s3"}),
        ("ImagingStudy", "endpoint=Endpoint/ID:e1", {"s1", "s2"}),
        ("ImagingStudy", "performer=Organization/ID:o2", {"s2"}),
        ("ImagingStudy", "referrer=Practitioner/ID:dr", {"s1"}),
        ("ImagingStudy", "basedon=ServiceRequest/ID:sr", {"s3"}),
        ("ImagingStudy", "encounter=ID:enc", {"s3"}),
        ("ImagingStudy", "interpreter=PractitionerRole/ID:role", {"s3"}),
        ("Organization", "partof=Organization/ID:o2", {"o1"}),
        ("Organization", "endpoint=ID:e1", {"o1"}),
        ("Endpoint", "organization=Organization/ID:o1", {"e1"}),
    ],
)
def test_reference_search(seeder: Seeder, resource_type: str, query: str, expected: set[str]) -> None:
    assert seeder.names(resource_type, _q(seeder, query)) == expected


def test_identifier_modifier_matches_logical_references(seeder: Seeder) -> None:
    assert seeder.names("Patient", f"organization:identifier={seeder.system}:org|ORG-9") == {"p3"}
    assert seeder.names("Patient", "organization:identifier=ORG-9") == {"p3"}
    assert seeder.names("Patient", "organization:identifier=other|ORG-9") == set()


def test_absolute_url_of_this_server_matches_relative_references(seeder: Seeder, base_url: str) -> None:
    absolute = f"{base_url}/Organization/{seeder.id('o1')}"
    assert seeder.names("Patient", f"organization={absolute}") == {"p1"}


def test_a_reference_that_does_not_drive_the_query_is_checked_too(seeder: Seeder) -> None:
    query = f"_id={seeder.id('p1')},{seeder.id('p2')}&organization={seeder.id('o2')}"
    assert seeder.names("Patient", query) == {"p2"}


@pytest.mark.parametrize(
    ("query", "expression"),
    [
        ("organization:Patient=1", "organization:Patient"),
        ("organization:above=Organization/1", "organization:above"),
        ("organization:exact=Organization/1", "organization:exact"),
        ("subject:Patient=Device/1", "subject:Patient"),
    ],
)
def test_bad_reference_modifiers_are_400(seeder: Seeder, query: str, expression: str) -> None:
    resource_type = "ImagingStudy" if query.startswith("subject") else "Patient"
    assert seeder.error(resource_type, query)["issue"][0]["expression"] == [expression]


def test_an_urn_is_a_whole_reference_not_a_bare_id(seeder: Seeder) -> None:
    # `urn:oid:…`/`urn:uuid:…` have no slash, yet name the referenced thing itself (the audit log's
    # `urn:shl:…` entities are searched the same way).
    urn = f"urn:oid:2.25.{abs(hash(seeder.prefix)) % 10**12}"
    seeder.put("p-urn", {"resourceType": "Patient", "managingOrganization": {"reference": urn}})
    assert seeder.names("Patient", f"organization={urn}") == {"p-urn"}
    assert seeder.names("Patient", f"organization={urn}9") == set()
