"""The CapabilityStatement lists exactly the search parameters that work: each is accepted under
`Prefer: handling=strict`, anything else is refused."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

COMMON = {"_id", "_lastUpdated", "_tag", "_profile", "_security", "_source"}
ADDRESS = {"address", "address-city", "address-country", "address-postalcode", "address-state", "address-use"}
# The R4 search parameter lists of each resource (phonetic included: American Soundex).
EXPECTED = {
    "Patient": COMMON
    | ADDRESS
    | {
        "active",
        "birthdate",
        "death-date",
        "deceased",
        "email",
        "family",
        "gender",
        "general-practitioner",
        "given",
        "identifier",
        "language",
        "link",
        "name",
        "organization",
        "phone",
        "phonetic",
        "telecom",
    },
    "Organization": COMMON
    | ADDRESS
    | {"active", "endpoint", "identifier", "name", "partof", "phonetic", "type"},
    "ImagingStudy": COMMON
    | {
        "basedon",
        "bodysite",
        "dicom-class",
        "encounter",
        "endpoint",
        "identifier",
        "instance",
        "interpreter",
        "modality",
        "patient",
        "performer",
        "reason",
        "referrer",
        "series",
        "started",
        "status",
        "subject",
    },
    "Endpoint": COMMON | {"connection-type", "identifier", "name", "organization", "payload-type", "status"},
}
SAMPLE = {
    "string": "x",
    "token": "x",
    "date": "ge2020-01-01",
    "reference": "x",
    "uri": "http://example.org/x",
}
STRICT = {"Prefer": "handling=strict"}


@pytest.fixture(scope="module")
def resources(base_url: str) -> dict[str, dict[str, Any]]:
    statement = httpx.get(f"{base_url}/metadata", timeout=30).json()
    return {r["type"]: r for r in statement["rest"][0]["resource"]}


@pytest.mark.parametrize("resource_type", sorted(EXPECTED))
def test_every_r4_parameter_is_listed_once(resources: dict[str, dict[str, Any]], resource_type: str) -> None:
    params = resources[resource_type]["searchParam"]
    names = [p["name"] for p in params]
    assert sorted(names) == sorted(EXPECTED[resource_type])
    for param in params:
        assert param["definition"].startswith("http://hl7.org/fhir/SearchParameter/")
        assert param["type"] in SAMPLE and param["documentation"]
    assert "search-type" in {i["code"] for i in resources[resource_type]["interaction"]}


@pytest.mark.parametrize("resource_type", sorted(EXPECTED))
def test_every_listed_parameter_is_accepted_under_strict_handling(
    client: httpx.Client, resources: dict[str, dict[str, Any]], resource_type: str
) -> None:
    for param in resources[resource_type]["searchParam"]:
        for query in ({param["name"]: SAMPLE[param["type"]]}, {f"{param['name']}:missing": "true"}):
            response = client.get(f"/{resource_type}", params=query, headers=STRICT)
            assert response.status_code == 200, (query, response.text)


@pytest.mark.parametrize("resource_type", sorted(EXPECTED))
def test_an_unlisted_parameter_is_refused_under_strict_handling(
    client: httpx.Client, resource_type: str
) -> None:
    response = client.get(f"/{resource_type}", params={"_text": "x", "_content": "x"}, headers=STRICT)
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["_content", "_text"]


def test_includes_conditional_interactions_and_everything_are_advertised(
    resources: dict[str, dict[str, Any]],
) -> None:
    study = resources["ImagingStudy"]
    assert {"ImagingStudy:endpoint", "ImagingStudy:patient", "ImagingStudy:*", "*"} <= set(
        study["searchInclude"]
    )
    assert {"ImagingStudy:patient", "ImagingStudy:subject"} <= set(resources["Patient"]["searchRevInclude"])
    assert "Endpoint:organization" in resources["Organization"]["searchRevInclude"]
    for resource in (resources[t] for t in EXPECTED):
        assert resource["conditionalCreate"] is True
        assert resource["conditionalUpdate"] is True
        assert resource["conditionalDelete"] == "multiple"
    operations = {o["name"]: o["definition"] for o in resources["Patient"]["operation"]}
    assert operations["everything"] == "http://hl7.org/fhir/OperationDefinition/Patient-everything"
