"""Stored search values of older formats. Resources indexed before the key split (every key in `sp.k`, no
`sp.t`) are still found by every search without re-indexing: the keys that drive searches now were indexed
then too. Format 2 made Patient `family`/`given` keys drive searches again, so resources written in the
split format of format 1 (those keys in `sp.t` only) are re-indexed at start-up, Patients only."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from fhir_server.resource_types import MODELS
from fhir_server.search.extract import resource_keys
from fhir_server.search.index import SearchIndexer
from fhir_server.search.migration import INDEX_FORMAT, _outdated_types, ensure_index_format
from fhir_server.settings import Settings
from fhir_server.storage.connection import DatabaseConnection, connect
from fhir_server.storage.mongo import MongoRepository
from tests.fhir_server.search.search_support import TAG_SYSTEM, Seeder
from tests.server_process import RunningServer

V2 = "http://terminology.hl7.org/CodeSystem/v2-0203"


def _format_1(resource: dict[str, Any]) -> dict[str, list[str]]:
    keys, exact = resource_keys(resource)
    return {"k": keys, "x": exact}


@pytest.fixture(scope="module")
def connection(server: RunningServer) -> Iterator[DatabaseConnection]:
    conn = connect(Settings(data_dir=server.data_dir), "cli")
    yield conn
    conn.close()


@pytest.fixture(scope="module", autouse=True)
def data(connection: DatabaseConnection, seeder: Seeder) -> None:
    old = MongoRepository(connection, list(MODELS), _format_1)
    tag = {"meta": {"tag": [{"system": TAG_SYSTEM, "code": seeder.prefix}]}}
    patient = {
        **tag,
        "resourceType": "Patient",
        "id": seeder.id("p1"),
        "identifier": [
            {"type": {"coding": [{"system": V2, "code": "NI"}]}, "system": seeder.system, "value": "7"}
        ],
        "name": [{"family": "Hansen", "given": ["Ingrid"]}],
        "telecom": [{"system": "phone", "value": "+47 555"}],
        "gender": "female",
    }
    study = {
        **tag,
        "resourceType": "ImagingStudy",
        "id": seeder.id("s1"),
        "status": "available",
        "subject": {"reference": f"Patient/{seeder.id('p1')}"},
    }
    for resource in (patient, study):
        version, _ = old.update(resource, expected_version=None)
        stored = old.collection(resource["resourceType"]).find_one(
            {"_id": f"{resource['id']}/{version.version}"}
        )
        assert stored is not None and "t" not in stored["sp"]  # really the old format


@pytest.mark.parametrize(
    ("resource_type", "query", "expected"),
    [
        ("Patient", "family=hans", {"p1"}),
        ("Patient", "given=ingrid", {"p1"}),
        ("Patient", "family:exact=Hansen", {"p1"}),
        ("Patient", "phone=+47 555", {"p1"}),
        ("Patient", "identifier=SYS|7", {"p1"}),
        ("Patient", "identifier=SYS|", {"p1"}),
        ("Patient", f"identifier:of-type={V2}|NI|7", {"p1"}),
        ("Patient", "gender=http://hl7.org/fhir/administrative-gender|female", {"p1"}),
        ("Patient", "gender:missing=false", {"p1"}),
        ("Patient", "_lastUpdated=gt2020-01-01", {"p1"}),
        ("Patient", "_lastUpdated=eb2020-01-01", set()),
        ("Patient", "_has:ImagingStudy:patient:status=available", {"p1"}),
        ("ImagingStudy", "patient=ID:p1", {"s1"}),
        ("ImagingStudy", "patient.identifier=SYS|7", {"s1"}),
        ("ImagingStudy", "status=http://hl7.org/fhir/imagingstudy-status|available", {"s1"}),
    ],
)
def test_a_resource_indexed_in_the_old_format_is_found(
    seeder: Seeder, resource_type: str, query: str, expected: set[str]
) -> None:
    query = query.replace("SYS", seeder.system).replace("ID:", f"{seeder.prefix}-")
    assert seeder.names(resource_type, query) == expected


def test_revinclude_through_the_old_format(seeder: Seeder) -> None:
    bundle = seeder.bundle("Patient", f"_id={seeder.id('p1')}&_revinclude=ImagingStudy:patient")
    modes = {(e["resource"]["resourceType"], e["search"]["mode"]) for e in bundle["entry"]}
    assert modes == {("Patient", "match"), ("ImagingStudy", "include")}


def _split_format_1(resource: dict[str, Any]) -> dict[str, list[str]]:
    """Format 1 after the key split: Patient family/given keys tested only, driven by `name`."""
    values = SearchIndexer().index_values(resource)
    moved = [key for key in values["k"] if key.startswith(("family=", "given="))]
    return {**values, "k": [key for key in values["k"] if key not in moved], "t": values["t"] + moved}


def test_start_up_re_indexes_patients_written_when_family_was_driven_by_name(
    connection: DatabaseConnection, seeder: Seeder
) -> None:
    old = MongoRepository(connection, list(MODELS), _split_format_1)
    patient = {
        "resourceType": "Patient",
        "id": seeder.id("p2"),
        "meta": {"tag": [{"system": TAG_SYSTEM, "code": seeder.prefix}]},
        "name": [{"family": "Solberg", "given": ["Kari"]}],
    }
    old.update(patient, expected_version=None)
    meta = connection.db.get_collection("search_meta")
    meta.update_one({"_id": "index-format"}, {"$set": {"version": 1}})
    assert seeder.names("Patient", "family=solb") == set()  # the outdated index really misses it

    reindexed = ensure_index_format(connection, SearchIndexer(), list(MODELS))

    assert reindexed == connection.db.get_collection("Patient").count_documents({"cur": True, "del": False})
    assert meta.find_one({"_id": "index-format"}) == {"_id": "index-format", "version": INDEX_FORMAT}
    assert seeder.names("Patient", "family=solb") == {"p2"}
    assert seeder.names("Patient", "given=kar") == {"p2"}
    assert ensure_index_format(connection, SearchIndexer(), list(MODELS)) == 0


@pytest.mark.parametrize(
    ("recorded", "expected"),
    [(None, list(MODELS)), (1, ["Patient"]), (INDEX_FORMAT + 1, list(MODELS)), ("2", list(MODELS))],
)
def test_which_types_an_outdated_format_re_indexes(recorded: object, expected: list[str]) -> None:
    assert list(_outdated_types(recorded, list(MODELS))) == expected
