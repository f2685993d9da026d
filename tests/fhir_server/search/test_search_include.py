"""_include and _revinclude, with :iterate and * (https://hl7.org/fhir/R4/search.html#include).

Seeded: organizations o1 (part of o0) and o2; endpoints e1 (o1) and e2 (o2); patient p1 managed by o1;
studies s1 (p1, e1), s2 (p1, e2 at series level), s3 (p1, no endpoint).
"""

from __future__ import annotations

import pytest

from tests.fhir_server.search.search_support import Seeder, local_names

CONNECTION = {
    "system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
    "code": "dicom-wado-rs",
}


@pytest.fixture(scope="module", autouse=True)
def data(seeder: Seeder) -> None:
    put, ref = seeder.put, seeder.id
    put("o0", {"resourceType": "Organization", "name": "Health Trust"})
    put(
        "o1",
        {"resourceType": "Organization", "name": "One", "partOf": {"reference": f"Organization/{ref('o0')}"}},
    )
    put("o2", {"resourceType": "Organization", "name": "Two"})
    for endpoint, org in (("e1", "o1"), ("e2", "o2")):
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
    put("p1", {"resourceType": "Patient", "managingOrganization": {"reference": f"Organization/{ref('o1')}"}})
    subject = {"reference": f"Patient/{ref('p1')}"}
    put(
        "s1",
        {
            "resourceType": "ImagingStudy",
            "status": "available",
            "subject": subject,
            "endpoint": [{"reference": f"Endpoint/{ref('e1')}"}],
        },
    )
    put(
        "s2",
        {
            "resourceType": "ImagingStudy",
            "status": "available",
            "subject": subject,
            "series": [
                {
                    "uid": "1.2.3",
                    "modality": {"code": "CT"},
                    "endpoint": [{"reference": f"Endpoint/{ref('e2')}"}],
                }
            ],
        },
    )
    put("s3", {"resourceType": "ImagingStudy", "status": "registered", "subject": subject})


def _entries(seeder: Seeder, resource_type: str, query: str) -> tuple[set[str], set[str], dict]:
    bundle = seeder.bundle(resource_type, query)
    return local_names(bundle, seeder.prefix), local_names(bundle, seeder.prefix, "include"), bundle


def test_include_endpoints_of_the_matches(seeder: Seeder) -> None:
    matches, included, bundle = _entries(seeder, "ImagingStudy", "_include=ImagingStudy:endpoint")
    assert matches == {"s1", "s2", "s3"}
    assert included == {"e1", "e2"}
    assert bundle["total"] == 3  # included resources are not counted


def test_include_iterate_follows_included_resources(seeder: Seeder) -> None:
    query = "_include=ImagingStudy:endpoint&_include:iterate=Endpoint:organization"
    assert _entries(seeder, "ImagingStudy", query)[1] == {"e1", "e2", "o1", "o2"}
    query += "&_include:iterate=Organization:partof"
    assert _entries(seeder, "ImagingStudy", query)[1] == {"e1", "e2", "o0", "o1", "o2"}


def test_include_without_iterate_does_not_follow_included_resources(seeder: Seeder) -> None:
    query = "_include=ImagingStudy:endpoint&_include=Endpoint:organization"
    assert seeder.error("ImagingStudy", query)["issue"][0]["expression"] == ["_include"]


def test_include_star_and_typed_include(seeder: Seeder) -> None:
    assert _entries(seeder, "ImagingStudy", "_include=ImagingStudy:*")[1] == {"p1", "e1", "e2"}
    assert _entries(seeder, "ImagingStudy", "_include=*")[1] == {"p1", "e1", "e2"}
    assert _entries(seeder, "ImagingStudy", "_include=ImagingStudy:subject:Patient")[1] == {"p1"}


def test_revinclude(seeder: Seeder) -> None:
    matches, included, _ = _entries(seeder, "Patient", "_revinclude=ImagingStudy:patient")
    assert (matches, included) == ({"p1"}, {"s1", "s2", "s3"})
    query = (
        f"_id={seeder.id('o1')}&_revinclude=Endpoint:organization&_revinclude:iterate=ImagingStudy:endpoint"
    )
    assert _entries(seeder, "Organization", query)[:2] == ({"o1"}, {"e1", "s1"})


def test_a_match_is_not_repeated_as_an_include(seeder: Seeder) -> None:
    query = "_include:iterate=Organization:partof"
    matches, included, bundle = _entries(seeder, "Organization", query)
    assert matches == {"o0", "o1", "o2"} and included == set()
    assert len(bundle["entry"]) == 3


def test_includes_apply_to_the_current_page_only(seeder: Seeder) -> None:
    bundle = seeder.bundle("ImagingStudy", "_include=ImagingStudy:endpoint&_count=1&_sort=_id")
    assert local_names(bundle, seeder.prefix) == {"s1"}
    assert local_names(bundle, seeder.prefix, "include") == {"e1"}


@pytest.mark.parametrize(
    ("query", "expression"),
    [
        ("_include=ImagingStudy:status", "_include"),
        ("_include=Observation:subject", "_include"),
        ("_include=ImagingStudy:subject:Organization", "_include"),
        ("_include:deep=ImagingStudy:subject", "_include:deep"),
        ("_revinclude=*", "_revinclude"),
        ("_revinclude=Endpoint:organization", "_revinclude"),
    ],
)
def test_malformed_includes_are_400(seeder: Seeder, query: str, expression: str) -> None:
    assert seeder.error("ImagingStudy", query)["issue"][0]["expression"] == [expression]
