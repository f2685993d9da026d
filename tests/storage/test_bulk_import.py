"""`BulkLoader` writes (`prepare_import`, `write_import`, `import_batch`, `current_versions`) on the embedded
database: versions, content hashes, retirement, and that imported resources are searchable through the
FHIR store (`MongoRepository`) that shares its documents."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from fhir_server.resource_types import MODELS
from fhir_server.search.access import SERVER_WIDE
from fhir_server.search.engine import SearchEngine, SearchLimits
from fhir_server.search.index import SearchIndexer
from fhir_server.search.request import parse_search
from fhir_server.settings import Settings
from fhir_server.storage.bulk_load import BulkLoader
from fhir_server.storage.connection import DatabaseConnection, connect
from fhir_server.storage.mongo import MongoRepository
from tests.server_process import RunningServer


@pytest.fixture(scope="module")
def connection(server: RunningServer) -> Iterator[DatabaseConnection]:
    conn = connect(Settings(data_dir=server.data_dir), "cli")
    yield conn
    conn.close()


@pytest.fixture(scope="module")
def repository(connection: DatabaseConnection) -> MongoRepository:
    return MongoRepository(connection, list(MODELS), SearchIndexer().index_values)


@pytest.fixture(scope="module")
def loader(connection: DatabaseConnection) -> BulkLoader:
    return BulkLoader(connection, list(MODELS), SearchIndexer().index_values)


@pytest.fixture
def prefix() -> str:
    return f"bulk{uuid.uuid4().hex[:8]}-"


def _patient(resource_id: str, family: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": resource_id,
        "identifier": [{"system": "urn:bulk-test", "value": resource_id}],
        "name": [{"family": family}],
    }


def _search(repository: MongoRepository, resource_type: str, query: list[tuple[str, str]]) -> set[str]:
    engine = SearchEngine(repository, SearchLimits(), (), SERVER_WIDE)
    request = parse_search(resource_type, query, strict=True, default_count=20, max_count=1000)
    return {c.id for c in engine.candidates(resource_type, engine.clauses(request.criteria))}


def test_first_batch_creates_second_changes_nothing_third_updates(
    loader: BulkLoader, repository: MongoRepository, prefix: str
) -> None:
    ids = [f"{prefix}{n}" for n in range(3)]
    known = loader.current_versions("Patient", prefix)
    assert known == {}
    first = loader.import_batch([_patient(i, "Berg") for i in ids], known)
    assert (first.created, first.updated, first.unchanged) == (3, 0, 0)
    assert set(known) == set(ids)

    again = loader.import_batch(
        [_patient(i, "Berg") for i in ids], loader.current_versions("Patient", prefix)
    )
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)

    known = loader.current_versions("Patient", prefix)
    changed = loader.import_batch([_patient(ids[0], "Dahl"), _patient(ids[1], "Berg")], known)
    assert (changed.created, changed.updated, changed.unchanged) == (0, 1, 1)
    collection = repository.collection("Patient")
    retired = collection.find_one({"_id": f"{ids[0]}/1"})
    current = collection.find_one({"_id": f"{ids[0]}/2"})
    assert retired is not None and retired["cur"] is False and "sp" not in retired
    assert current is not None and current["cur"] is True and current["ts"] > retired["ts"]
    assert loader.current_versions("Patient", prefix)[ids[0]].version == 2


def test_imported_resources_are_searchable_by_their_moved_keys(
    loader: BulkLoader, repository: MongoRepository, prefix: str
) -> None:
    # A create-only batch is written without a transaction; its index entries come with each document.
    ids = [f"{prefix}{n}" for n in range(20)]
    prepared = loader.prepare_import([_patient(i, f"Fam{prefix}") for i in ids], {})
    assert prepared.retired == [] and prepared.counts.created == 20
    loader.write_import(prepared)
    family = f"fam{prefix}"
    assert _search(repository, "Patient", [("family", family)]) == set(ids)
    assert _search(repository, "Patient", [("identifier", f"urn:bulk-test|{ids[3]}")]) == {ids[3]}
    assert _search(repository, "Patient", [("_id", ids[5])]) == {ids[5]}
    doc = repository.collection("Patient").find_one({"_id": f"{ids[0]}/1"})
    assert doc is not None
    assert f"identifier=urn:bulk-test|{ids[0]}" in doc["sp"]["t"]
    assert f"identifier:code={ids[0]}" in doc["sp"]["k"]


def test_current_versions_sees_deleted_and_latest_versions(
    loader: BulkLoader, repository: MongoRepository, prefix: str
) -> None:
    loader.import_batch([_patient(f"{prefix}a", "A"), _patient(f"{prefix}b", "B")], {})
    repository.update(_patient(f"{prefix}a", "A2"), expected_version=1)
    repository.delete("Patient", f"{prefix}b")
    known = loader.current_versions("Patient", prefix)
    assert (known[f"{prefix}a"].version, known[f"{prefix}a"].deleted) == (2, False)
    assert (known[f"{prefix}b"].version, known[f"{prefix}b"].deleted) == (2, True)
    # A deleted resource comes back as a new version, never as a clash with version 1.
    counts = loader.import_batch([_patient(f"{prefix}b", "B")], known)
    assert (counts.created, counts.updated) == (0, 1)
    latest = repository.read("Patient", f"{prefix}b")
    assert latest is not None and latest.version == 3 and not latest.deleted
