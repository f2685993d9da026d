"""FhirRequests dispatched straight into the core (no HTTP) through the route table, as a real caller's
secured store over the real embedded database."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from fhir_server.errors import FhirError
from tests.fhir_server.rest.conftest import Core


def _patient(family: str, **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "name": [{"family": family}], **extra}


def _created(core: Core, family: str) -> dict[str, Any]:
    result = core.call("POST", "Patient", _patient(family))
    assert result.status == 201, result.body
    assert result.resource is not None
    return result.resource


def test_create_read_vread_update_delete(core: Core) -> None:
    created = core.call("POST", "Patient", _patient("Core"))
    assert created.status == 201
    assert created.resource is not None
    pid = created.resource["id"]
    assert created.headers["Location"] == f"{core.base_url}/Patient/{pid}/_history/1"
    assert created.headers["ETag"] == 'W/"1"'
    assert created.last_modified is not None

    read = core.call("GET", f"Patient/{pid}")
    assert (read.status, read.resource) == (200, created.resource)
    assert core.call("GET", f"Patient/{pid}", headers={"If-None-Match": 'W/"1"'}).status == 304

    updated = core.call("PUT", f"Patient/{pid}", _patient("Changed", id=pid), headers={"if-match": 'W/"1"'})
    assert updated.status == 200
    assert updated.headers["ETag"] == 'W/"2"'
    vread = core.call("GET", f"Patient/{pid}/_history/1")
    assert vread.resource is not None and vread.resource["name"] == [{"family": "Core"}]

    with pytest.raises(FhirError) as stale:
        core.call("PUT", f"Patient/{pid}", _patient("Again", id=pid), headers={"If-Match": 'W/"1"'})
    assert stale.value.status == 412

    deleted = core.call("DELETE", f"Patient/{pid}")
    assert deleted.status == 200 and deleted.headers["ETag"] == 'W/"3"'
    with pytest.raises(FhirError) as gone:
        core.call("GET", f"Patient/{pid}")
    assert gone.value.status == 410


def test_prefer_minimal_has_no_body(core: Core) -> None:
    result = core.call("POST", "Patient", _patient("Minimal"), prefer="return=minimal")
    assert (result.status, result.body) == (201, None)
    assert "Location" in result.headers


def test_search_type(core: Core) -> None:
    family = f"Search{uuid.uuid4().hex[:8]}"
    pid = _created(core, family)["id"]
    result = core.call("GET", "Patient", query=(("family", family),))
    assert result.resource is not None
    assert result.resource["type"] == "searchset"
    assert [e["resource"]["id"] for e in result.resource["entry"]] == [pid]


def test_history_instance(core: Core) -> None:
    pid = _created(core, "History")["id"]
    result = core.call("GET", f"Patient/{pid}/_history")
    assert result.resource is not None and result.resource["total"] == 1


def test_an_invisible_resource_is_answered_as_absent(core: Core) -> None:
    """A patient-confined caller reading another patient gets the answer of an id that does not exist."""
    own, other = _created(core, "Own")["id"], _created(core, "Other")["id"]
    confined = core.access("patient/*.rs", patient=own)
    assert core.call("GET", f"Patient/{own}", access=confined).status == 200
    answers = []
    for pid in (other, f"absent-{uuid.uuid4().hex}"):
        with pytest.raises(FhirError) as error:
            core.call("GET", f"Patient/{pid}", access=confined)
        answers.append((error.value.status, error.value.diagnostics.replace(pid, "<id>")))
    assert answers[0] == answers[1]


def test_an_operation_validate(core: Core) -> None:
    result = core.call("POST", "Patient/$validate", _patient("Valid"))
    assert result.status == 200
    assert result.resource is not None and result.resource["resourceType"] == "OperationOutcome"
    assert result.resource["issue"][0]["severity"] == "information"


def test_an_operation_everything(core: Core) -> None:
    pid = _created(core, "Everything")["id"]
    result = core.call("GET", f"Patient/{pid}/$everything")
    assert result.resource is not None
    assert [e["resource"]["id"] for e in result.resource["entry"]] == [pid]


def test_metadata_lists_what_the_table_routes(core: Core) -> None:
    statement = core.call("GET", "metadata").resource
    assert statement is not None
    rest = statement["rest"][0]
    assert [i["code"] for i in rest["interaction"]] == ["history-system", "batch", "transaction"]
    patient = next(r for r in rest["resource"] if r["type"] == "Patient")
    assert [i["code"] for i in patient["interaction"]] == [
        "read",
        "vread",
        "update",
        "patch",
        "delete",
        "history-instance",
        "history-type",
        "create",
        "search-type",
    ]
    assert [o["name"] for o in patient["operation"]] == [
        "validate",
        "everything",
        "merge",
        "shl",
        "shl-log",
        "shl-revoke",
        "shl-qr",
    ]


# -- batch and transaction --------------------------------------------------------------------------------


def _bundle(kind: str, *entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def _entries(result: Any) -> list[dict[str, Any]]:
    assert result.resource is not None
    entries: list[dict[str, Any]] = result.resource["entry"]
    return entries


def test_batch_read_search_and_an_error_each_answered(core: Core) -> None:
    family = f"Batch{uuid.uuid4().hex[:8]}"
    pid = _created(core, family)["id"]
    result = core.call(
        "POST",
        "",
        _bundle(
            "batch",
            {"request": {"method": "GET", "url": f"Patient/{pid}"}},
            {"request": {"method": "GET", "url": f"Patient?family={family}"}},
            {"request": {"method": "GET", "url": "Patient/does-not-exist"}},
            {"request": {"method": "GET", "url": f"Patient/{pid}/$everything"}},
        ),
    )
    read, search, missing, operation = _entries(result)
    assert read["response"]["status"] == "200 OK" and read["resource"]["id"] == pid
    # Search inside a batch: the entry re-enters the route table like any other GET.
    assert search["response"]["status"] == "200 OK"
    assert [e["resource"]["id"] for e in search["resource"]["entry"]] == [pid]
    assert missing["response"]["status"] == "404 Not Found"
    assert missing["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert operation["response"]["status"] == "404 Not Found"
    assert "not supported in a bundle" in operation["response"]["outcome"]["issue"][0]["diagnostics"]


def test_entry_last_modified_is_the_stored_instant(core: Core) -> None:
    """`entry.response.lastModified` is a FHIR instant to the millisecond, with or without a body."""
    pid = _created(core, "LastModified")["id"]
    result = core.call(
        "POST",
        "",
        _bundle(
            "batch",
            {
                "request": {"method": "PUT", "url": f"Patient/{pid}"},
                "resource": _patient("LastModified2", id=pid),
            },
        ),
        prefer="return=minimal",
    )
    (entry,) = _entries(result)
    assert "resource" not in entry
    stored = core.call("GET", f"Patient/{pid}").resource
    assert stored is not None
    assert entry["response"]["lastModified"] == stored["meta"]["lastUpdated"]
    assert entry["response"]["etag"] == 'W/"2"'


def test_transaction_rewrites_urn_uuid_references(core: Core) -> None:
    result = core.call(
        "POST",
        "",
        _bundle(
            "transaction",
            {
                "request": {"method": "POST", "url": "Endpoint"},
                "resource": {
                    "resourceType": "Endpoint",
                    "status": "active",
                    "connectionType": {
                        "system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
                        "code": "dicom-wado-rs",
                    },
                    "payloadType": [{"text": "DICOM"}],
                    "address": "https://pacs.example/wado",
                    "managingOrganization": {"reference": "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"},
                },
            },
            {
                "fullUrl": "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a",
                "request": {"method": "POST", "url": "Organization"},
                "resource": {"resourceType": "Organization", "name": "Core Hospital"},
            },
        ),
    )
    endpoint, organization = _entries(result)
    assert organization["response"]["status"] == "201 Created"
    oid = organization["response"]["location"].split("/")[1]
    assert endpoint["resource"]["managingOrganization"]["reference"] == f"Organization/{oid}"


def test_search_inside_a_transaction_is_refused(core: Core) -> None:
    with pytest.raises(FhirError) as error:
        core.call(
            "POST", "", _bundle("transaction", {"request": {"method": "GET", "url": "Patient?family=x"}})
        )
    assert "not supported inside a transaction" in error.value.diagnostics


def test_a_failing_transaction_writes_nothing(core: Core) -> None:
    family = f"Atomic{uuid.uuid4().hex[:8]}"
    with pytest.raises(FhirError) as error:
        core.call(
            "POST",
            "",
            _bundle(
                "transaction",
                {"request": {"method": "POST", "url": "Patient"}, "resource": _patient(family)},
                {"request": {"method": "PUT", "url": "Patient/x"}, "resource": {"resourceType": "Patient"}},
            ),
        )
    assert error.value.status == 400
    found = core.call("GET", "Patient", query=(("family", family),)).resource
    assert found is not None and found["total"] == 0
