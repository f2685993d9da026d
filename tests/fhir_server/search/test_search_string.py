"""String search (https://hl7.org/fhir/R4/search.html#string): case- and accent-insensitive prefix by
default, :exact, :contains, :missing, phonetic, comma = OR, repeat = AND."""

from __future__ import annotations

import pytest

from tests.fhir_server.search.search_support import Seeder


@pytest.fixture(scope="module", autouse=True)
def data(seeder: Seeder) -> None:
    put = seeder.put
    put(
        "p1",
        {
            "resourceType": "Patient",
            "name": [{"family": "Hansen", "given": ["Ingrid"]}],
            "address": [
                {
                    "use": "home",
                    "line": ["Karl Johans gate 1"],
                    "city": "Oslo",
                    "state": "Oslo",
                    "postalCode": "0150",
                    "country": "NO",
                }
            ],
        },
    )
    put("p2", {"resourceType": "Patient", "name": [{"family": "Håkansson", "given": ["Åse"]}]})
    put(
        "p3",
        {
            "resourceType": "Patient",
            "name": [{"family": "Müller", "given": ["Jürgen", "Karl"]}],
            "address": [{"use": "work", "city": "München", "country": "DE"}],
        },
    )
    put("p4", {"resourceType": "Patient", "name": [{"family": "Olsen", "given": ["Hans"]}]})
    put(
        "p5",
        {
            "resourceType": "Patient",
            "name": [{"text": "Dr. Ola Nordmann", "family": "Nordmann", "prefix": ["Dr."]}],
        },
    )
    put("p6", {"resourceType": "Patient", "name": [{"given": ["Solo"]}]})
    put("o1", {"resourceType": "Organization", "name": "North Regional Hospital", "alias": ["NRH"]})
    put("o2", {"resourceType": "Organization", "name": "Søndre Klinikk"})
    put(
        "e1",
        {
            "resourceType": "Endpoint",
            "status": "active",
            "name": "North PACS",
            "connectionType": {
                "system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
                "code": "dicom-wado-rs",
            },
            "payloadType": [{"text": "DICOM"}],
            "address": "https://pacs.example.org/dicom-web",
        },
    )


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("family=han", {"p1"}),
        ("family=HA", {"p1", "p2"}),
        ("family=mul", {"p3"}),
        ("family=MÜL", {"p3"}),
        ("family=hakan", {"p2"}),
        ("family=hansen", {"p1"}),
        ("family=hansenx", set()),
        ("given=ase", {"p2"}),
        ("given=JURG", {"p3"}),
        ("name=hans", {"p1", "p4"}),
        ("name=dr", {"p5"}),
        ("name=dr. ola", {"p5"}),
        ("name=karl", {"p3"}),
        ("family=han,ols", {"p1", "p4"}),
        ("family=han&given=ingrid", {"p1"}),
        ("family=han&given=hans", set()),
        ("family:exact=Hansen", {"p1"}),
        ("family:exact=hansen", set()),
        ("family:exact=Müller", {"p3"}),
        ("family:exact=Muller", set()),
        ("family:exact=Hansen,Olsen", {"p1", "p4"}),
        ("family:contains=ANS", {"p1", "p2"}),
        ("family:contains=lse", {"p4"}),
        ("family:contains=ans&given=ing", {"p1"}),
        ("family:missing=true", {"p6"}),
        ("family:missing=false", {"p1", "p2", "p3", "p4", "p5"}),
        ("address=oslo", {"p1"}),
        ("address=karl", {"p1"}),
        ("address=0150", {"p1"}),
        ("address-city=münchen", {"p3"}),
        ("address-city=MUNCH", {"p3"}),
        ("address-country=no", {"p1"}),
        ("address-postalcode=015", {"p1"}),
        ("address-state=os", {"p1"}),
        ("address-use=home", {"p1"}),
        ("address:missing=true", {"p2", "p4", "p5", "p6"}),
        ("phonetic=Hanson", {"p1"}),
        ("phonetic=Olson", {"p4"}),
    ],
)
def test_patient_string_search(seeder: Seeder, query: str, expected: set[str]) -> None:
    assert seeder.names("Patient", query) == expected


@pytest.mark.parametrize(
    ("resource_type", "query", "expected"),
    [
        ("Organization", "name=north", {"o1"}),
        ("Organization", "name=nrh", {"o1"}),
        ("Organization", "name=sondre", {"o2"}),
        ("Organization", "name:exact=Søndre Klinikk", {"o2"}),
        ("Organization", "phonetic=Nort", {"o1"}),
        ("Endpoint", "name=north pa", {"e1"}),
        ("Endpoint", "name:contains=pacs", {"e1"}),
    ],
)
def test_other_types_string_search(
    seeder: Seeder, resource_type: str, query: str, expected: set[str]
) -> None:
    assert seeder.names(resource_type, query) == expected


def test_unknown_string_modifier_is_400_naming_the_parameter(seeder: Seeder) -> None:
    outcome = seeder.error("Patient", "family:below=han")
    assert outcome["issue"][0]["expression"] == ["family:below"]


def test_missing_takes_true_or_false(seeder: Seeder) -> None:
    outcome = seeder.error("Patient", "family:missing=maybe")
    assert outcome["issue"][0]["expression"] == ["family:missing"]
