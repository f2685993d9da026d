"""Token search (https://hl7.org/fhir/R4/search.html#token): code, system|code, |code, system|, on
Identifier, Coding, CodeableConcept, code, boolean, ContactPoint; :not :text :of-type :missing; and the
refused modifiers."""

from __future__ import annotations

import pytest

from tests.fhir_server.search.search_support import Seeder

V2 = "http://terminology.hl7.org/CodeSystem/v2-0203"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
SNOMED = "http://snomed.info/sct"


@pytest.fixture(scope="module", autouse=True)
def data(seeder: Seeder) -> None:
    s1, s2 = f"{seeder.system}:a", f"{seeder.system}:b"
    put = seeder.put
    put(
        "p1",
        {
            "resourceType": "Patient",
            "active": True,
            "gender": "female",
            "identifier": [
                {"type": {"coding": [{"system": V2, "code": "NI"}]}, "system": s1, "value": "123"}
            ],
            "telecom": [{"system": "email", "value": "Ingrid@Example.org"}],
            "communication": [
                {
                    "language": {
                        "coding": [{"system": "urn:ietf:bcp:47", "code": "nb", "display": "Norwegian Bokmål"}]
                    }
                }
            ],
        },
    )
    put(
        "p2",
        {
            "resourceType": "Patient",
            "active": False,
            "gender": "male",
            "identifier": [{"system": s2, "value": "123"}],
            "telecom": [{"system": "phone", "value": "+47 1234 5678"}],
        },
    )
    put("p3", {"resourceType": "Patient", "gender": "other", "identifier": [{"value": "123"}]})
    put(
        "p4",
        {
            "resourceType": "Patient",
            "identifier": [{"type": {"text": "Medical record number"}, "system": s1, "value": "456"}],
            "deceasedBoolean": True,
        },
    )
    put(
        "s1",
        {
            "resourceType": "ImagingStudy",
            "status": "available",
            "subject": {"reference": "Patient/x"},
            "modality": [{"system": DCM, "code": "CT", "display": "Computed Tomography"}],
            "reasonCode": [{"coding": [{"system": SNOMED, "code": "29857009", "display": "Chest pain"}]}],
            "series": [
                {
                    "uid": "1.2.3.1",
                    "modality": {"system": DCM, "code": "CT"},
                    "bodySite": {"system": SNOMED, "code": "51185008", "display": "Thorax"},
                    "instance": [
                        {
                            "uid": "1.2.3.1.1",
                            "sopClass": {
                                "system": "urn:ietf:rfc:3986",
                                "code": "urn:oid:1.2.840.10008.5.1.4.1.1.2",
                            },
                        }
                    ],
                },
                {"uid": "1.2.3.2", "modality": {"system": DCM, "code": "SR"}},
            ],
            "meta": {
                "security": [
                    {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}
                ],
                "profile": ["http://example.org/StructureDefinition/study"],
                "source": "http://legacy.example.org/app",
            },
        },
    )
    put(
        "s2",
        {
            "resourceType": "ImagingStudy",
            "status": "registered",
            "subject": {"reference": "Patient/x"},
            "modality": [{"system": DCM, "code": "MR"}],  # imported without series: study level only
        },
    )
    put("s3", {"resourceType": "ImagingStudy", "status": "available", "subject": {"reference": "Patient/x"}})


def _ident(seeder: Seeder, query: str) -> str:
    return query.replace("S1", f"{seeder.system}:a").replace("S2", f"{seeder.system}:b")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("identifier=123", {"p1", "p2", "p3"}),
        ("identifier=S1|123", {"p1"}),
        ("identifier=|123", {"p3"}),
        ("identifier=S1|", {"p1", "p4"}),
        ("identifier=S1|123,S2|123", {"p1", "p2"}),
        ("identifier=S1|123&identifier=123", {"p1"}),
        (f"identifier:of-type={V2}|NI|123", {"p1"}),
        (f"identifier:of-type={V2}|NI|456", set()),
        ("identifier:text=medical rec", {"p4"}),
        ("identifier:not=S1|123", {"p2", "p3", "p4"}),
        ("identifier:missing=false", {"p1", "p2", "p3", "p4"}),
        ("gender=female", {"p1"}),
        ("gender=http://hl7.org/fhir/administrative-gender|male", {"p2"}),
        ("gender=female,other", {"p1", "p3"}),
        ("gender:not=female", {"p2", "p3", "p4"}),
        ("gender:missing=true", {"p4"}),
        ("active=true", {"p1"}),
        ("active=false", {"p2"}),
        ("active:missing=true", {"p3", "p4"}),
        ("deceased=true", {"p4"}),
        ("deceased=false", {"p1", "p2", "p3"}),
        ("email=ingrid@example.org", {"p1"}),
        ("email=INGRID@EXAMPLE.ORG", {"p1"}),
        ("telecom=ingrid@example.org", {"p1"}),
        ("phone=+47 1234 5678", {"p2"}),
        ("phone=ingrid@example.org", set()),
        ("language=nb", {"p1"}),
        ("language=urn:ietf:bcp:47|nb", {"p1"}),
        ("language:text=norwegian", {"p1"}),
    ],
)
def test_patient_token_search(seeder: Seeder, query: str, expected: set[str]) -> None:
    assert seeder.names("Patient", _ident(seeder, query)) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("modality=CT", {"s1"}),
        (f"modality={DCM}|MR", {"s2"}),
        ("modality=SR", {"s1"}),
        ("modality=CT,MR", {"s1", "s2"}),
        ("modality:text=computed", {"s1"}),
        ("modality:missing=true", {"s3"}),
        ("status=available", {"s1", "s3"}),
        ("status:not=available", {"s2"}),
        ("bodysite=51185008", {"s1"}),
        ("bodysite:text=thor", {"s1"}),
        ("reason=http://snomed.info/sct|29857009", {"s1"}),
        ("reason:text=chest", {"s1"}),
        ("series=1.2.3.2", {"s1"}),
        ("instance=1.2.3.1.1", {"s1"}),
        ("dicom-class=urn:oid:1.2.840.10008.5.1.4.1.1.2", {"s1"}),
        ("_security=http://terminology.hl7.org/CodeSystem/v3-Confidentiality|R", {"s1"}),
        ("_profile=http://example.org/StructureDefinition/study", {"s1"}),
        ("_profile:below=http://example.org/StructureDefinition", {"s1"}),
        ("_profile:above=http://example.org/StructureDefinition/study/v2", {"s1"}),
        ("_source=http://legacy.example.org/app", {"s1"}),
        ("_source=http://legacy.example.org", set()),
    ],
)
def test_imaging_study_token_and_uri_search(seeder: Seeder, query: str, expected: set[str]) -> None:
    assert seeder.names("ImagingStudy", query) == expected


def test_id_search(seeder: Seeder) -> None:
    assert seeder.names("Patient", f"_id={seeder.id('p1')},{seeder.id('p3')}") == {"p1", "p3"}
    assert seeder.names("Patient", f"_id:not={seeder.id('p1')}") == {"p2", "p3", "p4"}


def test_tag_search_scopes_to_the_module(seeder: Seeder) -> None:
    # Every search in these tests carries _tag; without it the same criteria see other modules' data too.
    assert seeder.names("Patient") == {"p1", "p2", "p3", "p4"}


@pytest.mark.parametrize("modifier", ["in", "not-in", "above", "below"])
def test_terminology_modifiers_are_refused(seeder: Seeder, modifier: str) -> None:
    outcome = seeder.error("Patient", f"gender:{modifier}=female")
    assert "not supported" in outcome["issue"][0]["diagnostics"]
    assert outcome["issue"][0]["expression"] == [f"gender:{modifier}"]


def test_unknown_token_modifier_and_bad_of_type_are_400(seeder: Seeder) -> None:
    assert seeder.error("Patient", "gender:fuzzy=female")["issue"][0]["expression"] == ["gender:fuzzy"]
    assert seeder.error("Patient", "identifier:of-type=NI|123")["issue"][0]["expression"] == [
        "identifier:of-type"
    ]
    assert seeder.error("Patient", "gender:of-type=a|b|c")["issue"][0]["expression"] == ["gender:of-type"]
