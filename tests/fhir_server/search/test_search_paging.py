"""Paging, sorting and result parameters (https://hl7.org/fhir/R4/search.html#return,
https://hl7.org/fhir/R4/http.html#paging): _count, keyset next/prev links that stay correct while data
changes, _sort on several keys, _total, _summary, _elements, POST _search, unknown parameters."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.fhir_server.search.search_support import Seeder, local_names

STARTED = {
    "s1": "2024-01-01",
    "s2": "2024-02-01",
    "s3": "2024-03-01",
    "s4": "2024-04-01",
    "s5": "2024-05-01",
    "s6": "2024-06-01",
    "s7": "2024-07-01",
}


@pytest.fixture(scope="module", autouse=True)
def data(seeder: Seeder) -> None:
    for name, started in STARTED.items():
        seeder.put(
            name,
            {
                "resourceType": "ImagingStudy",
                "status": "available" if name < "s4" else "registered",
                "subject": {"reference": "Patient/x"},
                "started": started,
                "text": {
                    "status": "generated",
                    "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{name}</div>',
                },
                "description": f"study {name}",
            },
        )
    seeder.put(
        "u", {"resourceType": "ImagingStudy", "status": "available", "subject": {"reference": "Patient/x"}}
    )
    # Sorting by a repeating element: ascending uses the lowest value, descending the highest.
    seeder.put("pz", {"resourceType": "Patient", "name": [{"family": "Zed"}, {"family": "Adams"}]})
    seeder.put("pm", {"resourceType": "Patient", "name": [{"family": "Moe"}]})
    seeder.put("pn", {"resourceType": "Patient"})


def _follow(client: httpx.Client, bundle: dict[str, Any], relation: str) -> dict[str, Any] | None:
    for link in bundle["link"]:
        if link["relation"] == relation:
            response = client.get(link["url"])
            assert response.status_code == 200, response.text
            return dict(response.json())
    return None


def _ids(bundle: dict[str, Any], seeder: Seeder) -> list[str]:
    return [e["resource"]["id"].removeprefix(f"{seeder.prefix}-") for e in bundle["entry"]]


def test_pages_follow_next_links_to_the_end(seeder: Seeder) -> None:
    bundle: dict[str, Any] | None = seeder.bundle("ImagingStudy", "_count=3&_sort=started")
    pages = []
    while bundle is not None:
        assert bundle["type"] == "searchset" and bundle["total"] == 8
        pages.append(_ids(bundle, seeder))
        bundle = _follow(seeder.client, bundle, "next")
    # Without a start date, u sorts last in either direction.
    assert pages == [["s1", "s2", "s3"], ["s4", "s5", "s6"], ["s7", "u"]]


def test_prev_link_returns_the_previous_page(seeder: Seeder) -> None:
    first = seeder.bundle("ImagingStudy", "_count=3&_sort=-started")
    second = _follow(seeder.client, first, "next")
    assert second is not None and _ids(second, seeder) == ["s4", "s3", "s2"]
    back = _follow(seeder.client, second, "prev")
    assert back is not None and _ids(back, seeder) == _ids(first, seeder) == ["s7", "s6", "s5"]
    assert {"self", "first", "next"} <= {link["relation"] for link in first["link"]}
    assert "prev" not in {link["relation"] for link in first["link"]}


def test_next_link_stays_correct_when_resources_are_added_and_removed(seeder: Seeder) -> None:
    first = seeder.bundle(
        "Patient", "_count=1&_sort=_id&_id=" + ",".join(seeder.id(n) for n in ("pm", "pn", "pz"))
    )
    assert _ids(first, seeder) == ["pm"]
    # Between the pages: delete the first match (pm) and the next one (pn). Offset paging would skip pz.
    for name in ("pm", "pn"):
        assert seeder.client.delete(f"/Patient/{seeder.id(name)}").status_code == 200
    try:
        second = _follow(seeder.client, first, "next")
        assert second is not None and _ids(second, seeder) == ["pz"]
    finally:
        seeder.put("pm", {"resourceType": "Patient", "name": [{"family": "Moe"}]})
        seeder.put("pn", {"resourceType": "Patient"})


def test_next_link_is_not_shifted_by_a_new_resource_sorting_before_it(seeder: Seeder) -> None:
    first = seeder.bundle("ImagingStudy", "_count=4&_sort=started")
    assert _ids(first, seeder) == ["s1", "s2", "s3", "s4"]
    seeder.put(
        "s0",
        {
            "resourceType": "ImagingStudy",
            "status": "available",
            "subject": {"reference": "Patient/x"},
            "started": "2023-01-01",
        },
    )
    try:
        second = _follow(seeder.client, first, "next")
        assert second is not None and _ids(second, seeder) == ["s5", "s6", "s7", "u"]
    finally:
        seeder.client.delete(f"/ImagingStudy/{seeder.id('s0')}")


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("started", ["s1", "s2", "s3", "s4", "s5", "s6", "s7", "u"]),
        ("-started", ["s7", "s6", "s5", "s4", "s3", "s2", "s1", "u"]),
        ("status,-started", ["s3", "s2", "s1", "u", "s7", "s6", "s5", "s4"]),
        ("-status,started", ["s4", "s5", "s6", "s7", "s1", "s2", "s3", "u"]),
        ("-_id", ["u", "s7", "s6", "s5", "s4", "s3", "s2", "s1"]),
    ],
)
def test_sort(seeder: Seeder, sort: str, expected: list[str]) -> None:
    assert _ids(seeder.bundle("ImagingStudy", f"_sort={sort}&_count=20"), seeder) == expected


def test_sort_on_a_repeating_element_uses_min_ascending_and_max_descending(seeder: Seeder) -> None:
    assert _ids(seeder.bundle("Patient", "_sort=family"), seeder) == ["pz", "pm", "pn"]  # adams < moe
    assert _ids(seeder.bundle("Patient", "_sort=-family"), seeder) == ["pz", "pm", "pn"]  # zed > moe


def test_count_total_and_summary_count(seeder: Seeder) -> None:
    bundle = seeder.bundle("ImagingStudy", "_count=0")
    assert bundle["total"] == 8 and bundle.get("entry", []) == []
    counted = seeder.bundle("ImagingStudy", "_summary=count")
    assert counted["total"] == 8 and counted.get("entry", []) == []
    assert "total" not in seeder.bundle("ImagingStudy", "_total=none")
    assert seeder.bundle("ImagingStudy", "_total=estimate")["total"] == 8
    assert seeder.bundle("ImagingStudy", "_total=accurate")["total"] == 8


def test_count_above_the_maximum_is_capped(seeder: Seeder) -> None:
    bundle = seeder.bundle("ImagingStudy", "_count=100000")
    assert len(bundle["entry"]) == 8
    assert "_count=1000" in bundle["link"][0]["url"]


def test_summary_and_elements_reduce_resources_and_mark_them(seeder: Seeder) -> None:
    subsetted = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}
    full = seeder.bundle("ImagingStudy", f"_id={seeder.id('s1')}")["entry"][0]["resource"]
    assert "text" in full and subsetted not in full["meta"].get("tag", [])
    summary = seeder.bundle("ImagingStudy", f"_id={seeder.id('s1')}&_summary=true")["entry"][0]["resource"]
    assert (
        "text" not in summary and summary["started"] == "2024-01-01" and subsetted in summary["meta"]["tag"]
    )
    text = seeder.bundle("ImagingStudy", f"_id={seeder.id('s1')}&_summary=text")["entry"][0]["resource"]
    assert set(text) == {"resourceType", "id", "meta", "text", "status", "subject"}
    data = seeder.bundle("ImagingStudy", f"_id={seeder.id('s1')}&_summary=data")["entry"][0]["resource"]
    assert "text" not in data and data["description"] == "study s1"
    elements = seeder.bundle("ImagingStudy", f"_id={seeder.id('s1')}&_elements=started")["entry"][0][
        "resource"
    ]
    assert set(elements) == {"resourceType", "id", "meta", "started", "status", "subject"}
    assert subsetted in elements["meta"]["tag"]


def test_bundle_entries_carry_full_url_and_mode(seeder: Seeder, base_url: str) -> None:
    entry = seeder.bundle("ImagingStudy", f"_id={seeder.id('s1')}")["entry"][0]
    assert entry["fullUrl"] == f"{base_url}/ImagingStudy/{seeder.id('s1')}"
    assert entry["search"] == {"mode": "match"}


def test_post_search_merges_form_body_and_query_string(seeder: Seeder) -> None:
    response = seeder.client.post(
        "/ImagingStudy/_search?_sort=started",
        data={"status": "available", "_tag": seeder.tag, "started": "ge2024-02"},
    )
    assert response.status_code == 200, response.text
    assert _ids(response.json(), seeder) == ["s2", "s3"]
    refused = seeder.client.post("/ImagingStudy/_search", json={"status": "available"})
    assert refused.status_code == 415


def test_unknown_parameters_are_ignored_and_left_out_of_the_self_link(seeder: Seeder) -> None:
    bundle = seeder.bundle("ImagingStudy", "colour=blue&status=registered")
    assert local_names(bundle, seeder.prefix) == {"s4", "s5", "s6", "s7"}
    self_link = next(link["url"] for link in bundle["link"] if link["relation"] == "self")
    assert "colour" not in self_link and "status=registered" in self_link


def test_strict_handling_refuses_unknown_parameters_naming_them(seeder: Seeder) -> None:
    outcome = seeder.error("ImagingStudy", "colour=blue&size=xl", headers={"Prefer": "handling=strict"})
    assert outcome["issue"][0]["expression"] == ["colour", "size"]


@pytest.mark.parametrize(
    ("query", "expression"),
    [
        ("_count=abc", "_count"),
        ("_count=-1", "_count"),
        ("_sort=colour", "_sort"),
        ("_sort=", None),
        ("_total=exact", "_total"),
        ("_summary=short", "_summary"),
        ("_elements=name.family", "_elements"),
        ("_page=not-a-token", "_page"),
    ],
)
def test_malformed_result_parameters_are_400(seeder: Seeder, query: str, expression: str | None) -> None:
    if expression is None:  # an empty value is ignored, like any empty parameter
        assert seeder.search("ImagingStudy", query).status_code == 200
        return
    assert seeder.error("ImagingStudy", query)["issue"][0]["expression"] == [expression]


def test_a_page_token_is_bound_to_its_sort(seeder: Seeder) -> None:
    first = seeder.bundle("ImagingStudy", "_count=2&_sort=started")
    token = next(link["url"] for link in first["link"] if link["relation"] == "next").split("_page=")[1]
    outcome = seeder.error("ImagingStudy", f"_sort=-started&_page={token}")
    assert outcome["issue"][0]["expression"] == ["_page"]
