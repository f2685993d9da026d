"""The route table's matching rules: literal segments and `$operations` win over parameters whatever the row
order, equal-precedence rows fail when the table is built, and HTTP agrees with the table."""

from __future__ import annotations

import pytest
from fastapi.routing import iter_route_contexts

from fhir_server.app import create_app
from fhir_server.core.request import FhirRequest
from fhir_server.core.result import FhirResult
from fhir_server.core.routing import Route, RouteConflict, RouteTable
from fhir_server.observability.metrics import interaction_of
from fhir_server.rest.routes import ROUTES
from fhir_server.settings import Settings


def _nothing(req: FhirRequest) -> FhirResult:
    return FhirResult()


@pytest.mark.parametrize(
    ("method", "path", "interaction"),
    [
        ("GET", "metadata", "capabilities"),
        ("GET", "_history", "history-system"),
        ("GET", "Patient", "search-type"),
        ("POST", "", "batch-transaction"),
        ("POST", "Patient", "create"),
        ("POST", "Patient/$merge", "$merge"),
        ("POST", "Patient/$validate", "$validate"),
        ("POST", "Patient/_search", "search-type"),
        ("GET", "Patient/_history", "history-type"),
        ("GET", "Patient/1", "read"),
        ("GET", "Patient/$unknown", "read"),  # an id (404), as before: no operation of that name exists
        ("GET", "Patient/1/$everything", "$everything"),
        ("GET", "Patient/1/$shl-qr", "$shl-qr"),
        ("GET", "Patient/1/_history", "history-instance"),
        ("GET", "Patient/1/_history/2", "vread"),
        ("GET", "CodeSystem/$lookup", "$lookup"),
        ("GET", "CodeSystem/$unknown", "operation"),  # the terminology types answer "not defined" instead
        ("GET", "CodeSystem/x", "read"),
        ("POST", "CodeSystem/$validate", "operation"),  # the literal type beats {type}/$validate
        ("HEAD", "Patient/1", "read"),
    ],
)
def test_the_most_specific_row_wins(method: str, path: str, interaction: str) -> None:
    found = ROUTES.match(method, path)
    assert found is not None
    assert found.route.interaction == interaction


def test_the_row_parameters() -> None:
    found = ROUTES.match("GET", "Observation/o1/_history/3")
    assert found is not None and dict(found.params) == {"type": "Observation", "id": "o1", "vid": "3"}
    found = ROUTES.match("POST", "Patient/$merge")
    assert found is not None and dict(found.params) == {"type": "Patient", "operation": "$merge"}


def test_precedence_does_not_depend_on_row_order() -> None:
    rows = [
        Route("GET", "{type}/{id}", "read", _nothing),
        Route("GET", "{type}/${operation}", "type-operation", _nothing),
        Route("GET", "Patient/$everything", "everything", _nothing),
    ]
    for table in (RouteTable(rows), RouteTable(reversed(rows))):
        chosen = [table.match("GET", p) for p in ("Patient/$everything", "Patient/$x", "Patient/1")]
        assert [m.route.interaction if m else None for m in chosen] == [
            "everything",
            "type-operation",
            "read",
        ]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("{type}/{id}", "{kind}/{name}"),
        ("Patient/$merge", "Patient/$merge"),
        ("{type}/${operation}", "{type}/${name}"),
    ],
)
def test_rows_of_equal_precedence_fail_at_start_up(first: str, second: str) -> None:
    with pytest.raises(RouteConflict):
        RouteTable([Route("GET", first, "one", _nothing), Route("GET", second, "two", _nothing)])


def test_same_shape_different_methods_or_literals_do_not_conflict() -> None:
    RouteTable(
        [
            Route("GET", "{type}/{id}", "read", _nothing),
            Route("PUT", "{type}/{id}", "update", _nothing),
            Route("POST", "{type}/_search", "search", _nothing),
            Route("POST", "{type}/$validate", "validate", _nothing),
        ]
    )


def test_metrics_label_requests_by_the_table() -> None:
    assert interaction_of("GET", "/fhir/{resource_type}/{resource_id}", ROUTES.interaction_of) == "read"
    assert interaction_of("POST", "/fhir/", ROUTES.interaction_of) == "batch-transaction"
    assert (
        interaction_of("GET", "/fhir/Patient/{resource_id}/$everything", ROUTES.interaction_of)
        == "$everything"
    )
    assert interaction_of("GET", "/fhir/Patient/{patient_id}/$shl-qr", ROUTES.interaction_of) == "$shl-qr"
    assert interaction_of("GET", "/health/live", ROUTES.interaction_of) == "GET /health/live"


def test_rows_without_a_handler_name_the_routes_that_serve_them() -> None:
    app = create_app(Settings(auth_mode="smart"))
    registered = {(m, r.path) for r in iter_route_contexts(app.routes) for m in r.methods or ()}
    for route in ROUTES:
        if route.handler is None:
            assert route.served_by
            assert (route.method, "/fhir" + route.http_path) in registered, route


@pytest.mark.parametrize(
    ("method", "path", "interaction"),
    [
        ("GET", "metadata", "capabilities"),
        ("GET", "_history", "history-system"),
        ("GET", "Patient", "search-type"),
        ("POST", "Patient/$merge", "$merge"),
        ("POST", "Patient/$validate", "$validate"),
        ("GET", "Patient/1/$everything", "$everything"),
        ("GET", "CodeSystem/$lookup", "$lookup"),
        ("GET", "CodeSystem/$other", "operation"),
        ("GET", "CodeSystem/x", "read"),
        ("POST", "CodeSystem/$validate", "operation"),  # the literal type beats {type}/$validate
        ("GET", "Patient/1/_history/2", "vread"),
        ("HEAD", "Patient/1", "read"),
        ("GET", ".well-known/smart-configuration", "smart-configuration"),
    ],
)
def test_the_most_specific_row_takes_the_request(method: str, path: str, interaction: str) -> None:
    found = ROUTES.match(method, path)
    assert found is not None and found.route.interaction == interaction


def test_allow_lists_what_the_table_takes_on_a_path() -> None:
    assert set(ROUTES.methods_on("Patient/1")) == {"GET", "PUT", "PATCH", "DELETE"}
    assert ROUTES.methods_on("Patient/1/_history/2") == ["GET"]
    assert ROUTES.methods_on("no/such/path/here/at/all") == []
