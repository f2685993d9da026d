"""The OpenAPI document: valid, its /fhir part made from the route table (every interaction and operation
named, per resource type), the SMART security scheme, and only statuses the server really answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from fhir_server.app import create_app
from fhir_server.rest.operations import operations
from fhir_server.rest.routes import ROUTES
from fhir_server.settings import Settings

METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    # Built, never started: the document needs no database.
    app = create_app(Settings(data_dir=Path(tmp_path_factory.mktemp("openapi")), auth_mode="smart"))
    doc: dict[str, Any] = app.openapi()
    return doc


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, m, op) for path, item in document["paths"].items() for m, op in item.items() if m in METHODS
    ]


def test_the_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)
    ids = [op["operationId"] for _, _, op in _operations(document)]
    assert len(ids) == len(set(ids))


def test_fhir_paths_are_concrete_and_name_their_interaction(document: dict[str, Any]) -> None:
    paths = document["paths"]
    assert not any("{resource_type}" in p or "{type}" in p for p in paths)
    read = paths["/fhir/Patient/{id}"]["get"]
    assert read["summary"].startswith("read") and "Patient" in read["summary"]
    assert {"200", "304", "404", "410", "401", "403"} <= set(read["responses"])
    assert paths["/fhir/Patient/{id}/_history/{vid}"]["get"]["summary"].startswith("vread")
    assert paths["/fhir/ImagingStudy"]["post"]["summary"].startswith("create")
    assert "If-None-Exist" in {p["name"] for p in paths["/fhir/ImagingStudy"]["post"]["parameters"]}
    assert "If-Match" in {p["name"] for p in paths["/fhir/Patient/{id}"]["put"]["parameters"]}
    search = paths["/fhir/Patient"]["get"]
    assert search["summary"].startswith("search-type")
    assert {"name", "identifier", "birthdate", "_count"} <= {p["name"] for p in search["parameters"]}
    assert paths["/fhir"]["post"]["summary"].startswith("batch-transaction")
    assert paths["/fhir/metadata"]["get"]["security"] == []  # public, as the bearer rules say
    # AuditEvent is read-only: its writes are documented as the 405 they are.
    assert set(paths["/fhir/AuditEvent/{id}"]["delete"]["responses"]) == {"405", "401", "403"}


def test_every_route_table_row_and_operation_is_documented(document: dict[str, Any]) -> None:
    summaries = {op["summary"].split(":")[0].split(" ")[0] for path, _, op in _operations(document)}
    for route in ROUTES:
        if route.interaction != "operation":  # the catch-all for undefined operations (501)
            assert route.interaction in summaries, route
    for op in operations():
        assert f"${op.name}" in summaries, op.name
    assert "/fhir/Patient/{id}/$everything" in document["paths"]
    assert "/fhir/Patient/$merge" in document["paths"]
    qr = document["paths"]["/fhir/Patient/{id}/$shl-qr"]["get"]["responses"]["200"]
    assert "image/png" in qr["content"]


def test_no_framework_validation_errors_only_what_is_sent(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    for path, method, op in _operations(document):
        if "422" in op["responses"]:
            # Sent only where the request is valid but cannot be applied: JSON Patch, POSTed operations.
            assert method == "patch" or (method == "post" and "/$" in path), (method, path)
        for response in op["responses"].values():
            assert "HTTPValidationError" not in str(response)


def test_smart_security_scheme_and_protected_operations(document: dict[str, Any]) -> None:
    scheme = document["components"]["securitySchemes"]["smart"]
    assert scheme["type"] == "oauth2"
    flow = scheme["flows"]["authorizationCode"]
    assert flow["authorizationUrl"].endswith("/auth/authorize") and flow["tokenUrl"].endswith("/auth/token")
    assert "PKCE" in scheme["description"]
    assert document["paths"]["/fhir/Patient/{id}"]["get"]["security"] == [{"smart": []}]
    assert document["paths"]["/metrics"]["get"]["security"] == [{"smart": []}]
    assert document["paths"]["/health/live"]["get"]["security"] == []
