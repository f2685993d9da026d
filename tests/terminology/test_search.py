"""Search of the shipped terminology resources (fhir_server.search.memory): the parameters of R4's
SearchParameters, parsed and compiled as every FHIR search is, matched in memory."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from fhir_server.api.context import Prefer, RequestContext
from fhir_server.errors import FhirError
from fhir_server.search.memory import search_in_memory
from terminology.local import LocalTerminology

BASE = "https://fhir.example.org/fhir"
CID29 = "http://hl7.org/fhir/ValueSet/dicom-cid29"


def _search(
    service: LocalTerminology, resource_type: str, *pairs: tuple[str, str], strict: bool = False
) -> dict[str, Any]:
    prefer = Prefer.parse("handling=strict" if strict else None)
    return search_in_memory(service.resources(), resource_type, list(pairs), RequestContext(BASE, prefer))


def _ids(bundle: dict[str, Any]) -> list[str]:
    return [e["resource"]["id"] for e in bundle["entry"]]


def test_url_version_name_title_status_and_id(service: LocalTerminology) -> None:
    assert _ids(_search(service, "ValueSet", ("url", CID29))) == ["dicom-cid29"]
    assert _ids(_search(service, "CodeSystem", ("version", "1.0.0"))) == [
        "endpoint-connection-type",
        "legacy-modality",
    ]
    # `name` is a string parameter: case-insensitive, matching the start (`:exact` the whole value).
    assert _ids(_search(service, "ValueSet", ("name", "endpoint"))) == [
        "endpoint-connection-type",
        "endpoint-status",
    ]
    assert _ids(_search(service, "ValueSet", ("name:exact", "endpoint"))) == []
    assert _ids(_search(service, "ConceptMap", ("title:contains", "dicom"))) == ["legacy-modality-to-dcm"]
    active = _search(service, "NamingSystem", ("status", "http://hl7.org/fhir/publication-status|active"))
    assert active["total"] == 5
    assert _search(service, "CodeSystem", ("status:not", "active"))["total"] == 0
    assert _ids(_search(service, "CodeSystem", ("_id", "dicom-dcm,v2-0203"))) == ["dicom-dcm", "v2-0203"]
    assert _ids(_search(service, "CodeSystem", ("url:below", "http://hl7.org/fhir/"))) == [
        "administrative-gender",
        "endpoint-status",
        "imagingstudy-status",
    ]


def test_count_paging_and_sort(service: LocalTerminology) -> None:
    first = _search(service, "ValueSet", ("_count", "3"), ("_sort", "-name"))
    assert first["total"] == 7 and len(first["entry"]) == 3
    seen = _ids(first)
    page = first
    while following := next((link["url"] for link in page["link"] if link["relation"] == "next"), None):
        assert following.startswith(f"{BASE}/ValueSet?")
        page = _search(service, "ValueSet", *parse_qsl(urlsplit(following).query))
        seen += _ids(page)
    names = {e["resource"]["id"]: e["resource"]["name"] for e in _search(service, "ValueSet")["entry"]}
    assert seen == sorted(names, key=lambda i: names[i].casefold(), reverse=True)
    assert _search(service, "ValueSet", ("_summary", "count"))["entry"] == []


def test_unknown_parameters_follow_fhir_search(service: LocalTerminology) -> None:
    # Ignored and left out of the self link; a 400 with `Prefer: handling=strict`.
    lenient = _search(
        service, "CodeSystem", ("colour", "red"), ("url", "http://hl7.org/fhir/endpoint-status")
    )
    assert _ids(lenient) == ["endpoint-status"]
    assert "colour" not in lenient["link"][0]["url"]
    with pytest.raises(FhirError):
        _search(service, "CodeSystem", ("colour", "red"), strict=True)
    # NamingSystem has no `url` element in R4, so no `url` parameter.
    with pytest.raises(FhirError):
        _search(service, "NamingSystem", ("url", "x"), strict=True)


@pytest.mark.parametrize(
    "pair",
    [
        ("name:below", "x"),  # not a modifier of string parameters
        ("status:in", "http://hl7.org/fhir/ValueSet/publication-status"),  # not supported here
        ("_count", "-1"),
        ("_sort", "colour"),
        ("_page", "garbage"),
        ("_include", "ValueSet:url"),
        ("_elements", "url"),
    ],
)
def test_malformed_requests_are_errors(service: LocalTerminology, pair: tuple[str, str]) -> None:
    with pytest.raises(FhirError) as raised:
        _search(service, "ValueSet", pair)
    assert raised.value.problem.name == "INVALID"
