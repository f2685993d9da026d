"""Bad input is a 4xx OperationOutcome naming the offending element, never a 500, and the keep-alive
connection it came on serves the next request: deeply nested JSON in every kind of body, out-of-range and
non-numeric counts and offsets, wrongly typed operation Parameters, and searches beyond the caps on their
size. Against the real server (`client`: one httpx connection, reused); the last test runs a bug's 500
through an in-process uvicorn."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from fhir_server.api import error_handlers
from fhir_server.validation import MAX_JSON_DEPTH
from tests.server_process import free_port

FHIR_JSON = {"Content-Type": "application/fhir+json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
GENDER = "http://hl7.org/fhir/ValueSet/administrative-gender"
# Levels of the nested-extension bodies below: Patient 1, extension array 2, first extension object 3, …
EXTENSIONS_AT_LIMIT = (MAX_JSON_DEPTH - 1) // 2  # 49 nested extension objects: 99 levels, accepted
TOO_DEEP_PATIENT = "Patient" + ".extension[0]" * (MAX_JSON_DEPTH // 2)  # the 101st level's object


def local_port(response: httpx.Response) -> int:
    """The client side port of the connection that carried `response`; fails if the server closed it."""
    address = response.extensions["network_stream"].get_extra_info("client_addr")
    return int(address[1])


def expect_400(
    client: httpx.Client, response: httpx.Response, expression: str | None, status: int = 400
) -> dict[str, Any]:
    """A 400 OperationOutcome whose first issue names `expression`; then the same connection still works."""
    assert response.status_code == status, response.text[:500]
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    issue = body["issue"][0]
    assert issue["severity"] == "error"
    if expression is not None:
        assert issue.get("expression") == [expression], issue
    assert "close" not in response.headers.get("connection", "")
    port = local_port(response)
    following = client.get("/metadata")
    assert following.status_code == 200
    assert local_port(following) == port, "the connection was not reused"
    return issue


def nested_extensions(levels: int) -> dict[str, Any]:
    extension: dict[str, Any] = {"url": "http://example.org/leaf", "valueString": "x"}
    for _ in range(levels - 1):
        extension = {"url": "http://example.org/node", "extension": [extension]}
    return {"resourceType": "Patient", "extension": [extension]}


def nested_text(levels: int) -> bytes:
    """The same body as text, for depths neither Python's json nor orjson would serialize."""
    head = b'{"resourceType":"Patient","extension":[' + b'{"url":"http://example.org/node","extension":[' * (
        levels - 1
    )
    leaf = b'{"url":"http://example.org/leaf","valueString":"x"}'
    return head + leaf + b"]}" * (levels - 1) + b"]}"


@pytest.fixture(scope="module")
def patient_id(base_url: str) -> str:
    response = httpx.post(
        f"{base_url}/Patient",
        json={"resourceType": "Patient", "name": [{"family": "Fuzz"}]},
        headers=FHIR_JSON,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


# -- nesting depth -------------------------------------------------------------------------------------


def test_nesting_up_to_the_limit_is_accepted(client: httpx.Client) -> None:
    response = client.post("/Patient", json=nested_extensions(EXTENSIONS_AT_LIMIT), headers=FHIR_JSON)
    assert response.status_code == 201, response.text[:500]


@pytest.mark.parametrize("levels", [EXTENSIONS_AT_LIMIT + 1, 150, 600, 5000])
def test_nesting_beyond_the_limit_is_400_naming_the_element(client: httpx.Client, levels: int) -> None:
    # 600 and 5000 go beyond orjson's own depth limit (1024): same answer, found in the text.
    response = client.post("/Patient", content=nested_text(levels), headers=FHIR_JSON)
    issue = expect_400(client, response, TOO_DEEP_PATIENT)
    assert issue["code"] == "structure"
    assert f"more than {MAX_JSON_DEPTH} levels" in issue["diagnostics"]


def test_nesting_is_checked_in_every_kind_of_body(client: httpx.Client, patient_id: str) -> None:
    deep = nested_extensions(150)
    expect_400(client, client.put("/Patient/deep-1", json=deep, headers=FHIR_JSON), TOO_DEEP_PATIENT)
    # $validate answers 200 for an invalid resource, but a body it cannot read is the request's fault.
    expect_400(client, client.post("/Patient/$validate", json=deep, headers=FHIR_JSON), TOO_DEEP_PATIENT)
    in_bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": deep, "request": {"method": "POST", "url": "Patient"}}],
    }
    # Bundle 1, entry 2, [0] 3, resource 4: 97 more keys to the 101st level.
    bundle_path = "Bundle.entry[0].resource" + ".extension[0]" * 48 + ".extension"
    expect_400(client, client.post("", json=in_bundle, headers=FHIR_JSON), bundle_path)
    patch = [{"op": "add", "path": "/extension", "value": deep["extension"]}]
    patch_path = "[0].value[0]" + ".extension[0]" * 48 + ".extension"
    response = client.patch(
        f"/Patient/{patient_id}", json=patch, headers={"Content-Type": "application/json-patch+json"}
    )
    expect_400(client, response, patch_path)
    # Patches that each stay shallow may still build a resource deeper than the limit: checked as a write,
    # and a patch whose result is invalid is a 422 (https://hl7.org/fhir/R4/http.html#patch).
    shallow = nested_extensions(EXTENSIONS_AT_LIMIT)["extension"]
    deepest = "/extension" + "/0/extension" * EXTENSIONS_AT_LIMIT  # a member of the innermost one
    response = client.patch(
        f"/Patient/{patient_id}",
        json=[{"op": "add", "path": "/extension", "value": shallow}],
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert response.status_code == 200, response.text[:300]
    response = client.patch(
        f"/Patient/{patient_id}",
        json=[{"op": "add", "path": deepest, "value": shallow}],
        headers={"Content-Type": "application/json-patch+json"},
    )
    expect_400(client, response, TOO_DEEP_PATIENT, status=422)
    parameters = {"resourceType": "Parameters", "parameter": [{"name": "valueSet", "resource": deep}]}
    response = client.post("/ValueSet/$validate-code", json=parameters, headers=FHIR_JSON)
    expect_400(client, response, "Parameters.parameter[0].resource" + ".extension[0]" * 48 + ".extension")


# -- counts and offsets ----------------------------------------------------------------------------------

BAD_INTEGERS = [
    "18446744073709551616",  # 2**64
    "99999999999999999999999",
    "2147483648",  # FHIR integer max + 1
    "-1",
    "+5",
    "1e3",
    "abc",
    "²",  # a Unicode digit: str.isdigit() says yes, int() says no
    "1" * 5000,  # beyond Python's int-from-string limit
]


@pytest.mark.parametrize("raw", BAD_INTEGERS)
def test_bad_counts_and_offsets_are_400_naming_the_parameter(
    client: httpx.Client, patient_id: str, raw: str
) -> None:
    for path in ("/Patient", "/Patient/_history", "/_history", f"/Patient/{patient_id}/_history"):
        expect_400(client, client.get(path, params={"_count": raw}), "_count")
    expect_400(client, client.get(f"/Patient/{patient_id}/$everything", params={"_count": raw}), "_count")
    search = client.post("/Patient/_search", content=urlencode({"_count": raw}), headers=FORM)
    expect_400(client, search, "_count")
    for name in ("count", "offset"):
        expand = client.get("/ValueSet/$expand", params={"url": GENDER, name: raw})
        expect_400(client, expand, name)


def test_large_but_valid_count_is_capped_not_refused(client: httpx.Client) -> None:
    response = client.get("/Patient", params={"_count": "2147483647"})
    assert response.status_code == 200
    assert "_count=1000" in response.json()["link"][0]["url"]  # FHIR_MAX_PAGE_SIZE


@pytest.mark.parametrize(
    ("value", "key"),
    [
        (18446744073709551616, "valueInteger"),  # orjson reads it as a float
        (-1, "valueInteger"),
        ("5", "valueInteger"),
        (5, "valueString"),
    ],
)
def test_bad_integer_parameters_are_400_naming_the_value(
    client: httpx.Client, value: object, key: str
) -> None:
    body = {"resourceType": "Parameters", "parameter": [{"name": "url", "valueUri": GENDER}]}
    body["parameter"].append({"name": "count", key: value})
    response = client.post("/ValueSet/$expand", json=body, headers=FHIR_JSON)
    expect_400(client, response, f"Parameters.parameter[1].{key}")


# -- operation Parameters -------------------------------------------------------------------------------

TRANSLATE = [{"name": "code", "valueCode": "male"}, {"name": "system", "valueUri": "http://x.example"}]


@pytest.mark.parametrize(
    ("path", "body", "expression"),
    [
        (
            "/ConceptMap/$translate",
            {
                "resourceType": "Parameters",
                "parameter": [*TRANSLATE, {"name": "reverse", "valueString": "true"}],
            },
            "Parameters.parameter[2].valueString",
        ),
        (
            "/ConceptMap/$translate",
            {
                "resourceType": "Parameters",
                "parameter": [*TRANSLATE, {"name": "reverse", "valueBoolean": "yes"}],
            },
            "Parameters.parameter[2].valueBoolean",
        ),
        (
            "/CodeSystem/$lookup",
            {"resourceType": "Parameters", "parameter": [{"name": "coding", "valueCoding": "male"}]},
            "Parameters.parameter[0].valueCoding",
        ),
        (
            "/CodeSystem/$lookup",
            {"resourceType": "Parameters", "parameter": [{"name": "code"}]},
            "Parameters.parameter[0]",
        ),
        (
            "/ValueSet/$expand",
            {"resourceType": "Parameters", "parameter": {"name": "url"}},
            "Parameters.parameter",
        ),
        ("/ValueSet/$expand", {"resourceType": "Parameters", "parameter": [5]}, "Parameters.parameter[0]"),
        (
            "/ValueSet/$expand",
            {"resourceType": "Parameters", "parameter": ["url"]},
            "Parameters.parameter[0]",
        ),
        (
            "/ValueSet/$expand",
            {"resourceType": "Parameters", "parameter": [{"name": 5, "valueUri": GENDER}]},
            "Parameters.parameter[0].name",
        ),
        (
            "/ValueSet/$expand",
            {"resourceType": "Parameters", "parameter": [{"name": "url", "part": [5]}]},
            "Parameters.parameter[0].part[0]",
        ),
        (
            "/ValueSet/$expand",
            {"resourceType": "Parameters", "parameter": [{"name": "url", "part": {"name": "x"}}]},
            "Parameters.parameter[0].part",
        ),
        ("/ValueSet/$expand", {"url": GENDER}, "resourceType"),
        ("/ValueSet/$validate-code", {"resourceType": "Patient"}, "resourceType"),
        (
            "/Patient/$validate",
            {"resourceType": "Parameters", "parameter": {"name": "x"}},
            "Parameters.parameter",
        ),
        ("/Patient/$validate", {"resourceType": "Parameters", "parameter": [5]}, "Parameters.parameter[0]"),
        (
            "/Patient/$validate",
            {"resourceType": "Parameters", "parameter": [{"name": "resource", "part": [[]]}]},
            "Parameters.parameter[0].part[0]",
        ),
        (
            "/Patient/$validate",
            {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": "Patient"}]},
            "Parameters.parameter[0].resource",
        ),
        (
            "/Patient/$validate",
            {"resourceType": "Parameters", "parameter": [{"name": "resource"}]},
            "Parameters.parameter[0].resource",
        ),
    ],
)
def test_wrongly_typed_parameters_are_400_naming_the_element(
    client: httpx.Client, path: str, body: object, expression: str
) -> None:
    expect_400(client, client.post(path, json=body, headers=FHIR_JSON), expression)


@pytest.mark.parametrize("path", ["/ValueSet/$expand", "/ConceptMap/$translate", "/Patient/$validate"])
@pytest.mark.parametrize("body", [[1, 2], "Parameters", 5, {}])
def test_a_body_that_is_no_object_is_400(client: httpx.Client, path: str, body: object) -> None:
    response = client.post(path, json=body, headers=FHIR_JSON)
    if path == "/Patient/$validate":
        # $validate reports a body that is not a resource as the validation's result, as before.
        assert response.status_code == 200
        assert response.json()["issue"][0]["severity"] == "error"
        return
    expect_400(client, response, None)


def test_well_formed_parameters_still_work(client: httpx.Client) -> None:
    body = {
        "resourceType": "Parameters",
        "parameter": [{"name": "url", "valueUri": GENDER}, {"name": "count", "valueInteger": 2}],
    }
    response = client.post("/ValueSet/$expand", json=body, headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    assert len(response.json()["expansion"]["contains"]) == 2
    patient = {"resourceType": "Patient", "active": True}
    wrapped = {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": patient}]}
    validated = client.post("/Patient/$validate", json=wrapped, headers=FHIR_JSON)
    assert validated.status_code == 200
    assert validated.json()["issue"][0]["severity"] == "information"


# -- caps on the size of a search -----------------------------------------------------------------------


def test_or_values_per_parameter_are_capped(client: httpx.Client) -> None:
    at_cap = client.get("/Patient", params={"name": ",".join(["a"] * 100)})
    assert at_cap.status_code == 200
    issue = expect_400(client, client.get("/Patient", params={"name": ",".join(["a"] * 101)}), "name")
    assert "FHIR_MAX_OR_VALUES" in issue["diagnostics"]
    chained = {"subject:Patient.name": ",".join(["a"] * 101)}
    expect_400(client, client.get("/ImagingStudy", params=chained), "subject:Patient.name")
    expect_400(client, client.get("/Patient", params={"_sort": ",".join(["name"] * 101)}), "_sort")
    expect_400(client, client.get("/Patient", params={"_elements": ",".join(["id"] * 101)}), "_elements")
    form = client.post("/Patient/_search", content=urlencode({"name": ",".join(["a"] * 5000)}), headers=FORM)
    expect_400(client, form, "name")


def test_parameters_per_search_are_capped(client: httpx.Client) -> None:
    at_cap = client.get("/Patient", params=[("name", "a")] * 100)
    assert at_cap.status_code == 200
    over = client.get("/Patient", params=[*[("name", "a")] * 100, ("family", "b")])
    issue = expect_400(client, over, "family")  # the first parameter beyond the cap
    assert "FHIR_MAX_SEARCH_PARAMETERS" in issue["diagnostics"]
    body = urlencode([("gender", "male")] * 20_000)  # a POST body is not bounded by URL length limits
    expect_400(client, client.post("/Patient/_search", content=body, headers=FORM), "gender")
    # Empty and format parameters are not counted.
    relaxed = client.get("/Patient", params=[*[("name", "a")] * 100, ("family", ""), ("_format", "json")])
    assert relaxed.status_code == 200


def test_conditional_criteria_are_capped_too(client: httpx.Client) -> None:
    criteria = urlencode({"identifier": ",".join(["urn:x|1"] * 101)})
    response = client.post(
        "/Patient", json={"resourceType": "Patient"}, headers={**FHIR_JSON, "If-None-Exist": criteria}
    )
    expect_400(client, response, "identifier")


# -- a bug is a 500, and the connection survives it ------------------------------------------------------


@pytest.fixture
def failing_app() -> Iterator[str]:
    """The error handling of the real application (error_handlers.install) around a route with a bug, on
    uvicorn in a thread: no database needed to show what a 500 does to the connection."""
    app = FastAPI()
    error_handlers.install(app)

    @app.get("/bug")
    def bug() -> None:
        raise RuntimeError("a bug")

    @app.get("/ok")
    def ok() -> dict[str, bool]:
        return {"ok": True}

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_a_bug_is_a_500_outcome_on_a_connection_that_stays_open(failing_app: str) -> None:
    with httpx.Client(base_url=failing_app, timeout=10) as client:
        failed = client.get("/bug")
        assert failed.status_code == 500
        assert failed.json()["issue"][0]["code"] == "exception"
        assert "a bug" not in failed.text  # no internals to the client
        port = local_port(failed)
        following = client.get("/ok")
        assert following.status_code == 200
        assert local_port(following) == port
