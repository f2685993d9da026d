"""The feature document store (`fhir_server.storage.documents`): driver errors arrive as storage errors, and
the atomic operations keep the driver's semantics (before/after images, conditional updates, upserts)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from fhir_server.settings import Settings
from fhir_server.storage.connection import DatabaseConnection, connect
from fhir_server.storage.documents import DESCENDING, DocumentCollection
from fhir_server.storage.errors import DatabaseUnavailable, DuplicateKey
from tests.server_process import RunningServer


@pytest.fixture(scope="module")
def connection(server: RunningServer) -> Iterator[DatabaseConnection]:
    conn = connect(Settings(data_dir=server.data_dir), "cli")
    yield conn
    conn.close()


@pytest.fixture
def collection(connection: DatabaseConnection) -> Iterator[DocumentCollection]:
    name = f"test_documents_{uuid.uuid4().hex[:8]}"
    yield connection.documents.collection(name)
    connection.db.drop_collection(name)


def test_a_second_insert_of_a_key_is_a_storage_duplicate_key(collection: DocumentCollection) -> None:
    collection.insert_one({"_id": "a", "n": 1})
    with pytest.raises(DuplicateKey):
        collection.insert_one({"_id": "a", "n": 2})
    assert collection.find_one({"_id": "a"}) == {"_id": "a", "n": 1}


def test_find_one_and_update_returns_the_before_or_after_image_atomically(
    collection: DocumentCollection,
) -> None:
    collection.insert_one({"_id": "c", "left": 1})
    taken = collection.find_one_and_update(
        {"_id": "c", "left": {"$gt": 0}}, {"$inc": {"left": -1}}, {"left": 1}, return_after=True
    )
    assert taken == {"_id": "c", "left": 0}
    assert collection.find_one_and_update({"_id": "c", "left": {"$gt": 0}}, {"$inc": {"left": -1}}) is None
    before = collection.find_one_and_update({"_id": "c"}, {"$set": {"used": True}})
    assert before == {"_id": "c", "left": 0}


def test_updates_report_matches_and_upserts(collection: DocumentCollection) -> None:
    inserted = collection.update_one({"_id": "u"}, {"$setOnInsert": {"n": 1}}, upsert=True)
    again = collection.update_one({"_id": "u"}, {"$setOnInsert": {"n": 2}}, upsert=True)
    missed = collection.update_one({"_id": "nobody"}, {"$set": {"n": 3}})
    assert (inserted.upserted, again.upserted, again.matched, missed.matched) == (True, False, 1, 0)
    assert collection.delete_one({"_id": "u"}) == 1 and collection.delete_one({"_id": "u"}) == 0


def test_find_sorts_and_limits(collection: DocumentCollection) -> None:
    for n in range(5):
        collection.insert_one({"_id": f"s{n}", "n": n})
    assert [d["n"] for d in collection.find({}, sort=[("n", DESCENDING)], limit=2)] == [4, 3]
    assert collection.count_documents({"n": {"$gte": 2}}) == 3
    assert collection.delete_many({}) == 5


def test_ping_of_a_closed_connection_is_database_unavailable(server: RunningServer) -> None:
    conn = connect(Settings(data_dir=server.data_dir), "cli")
    conn.ping()
    conn.client.close()
    with pytest.raises(DatabaseUnavailable):
        conn.ping()
    conn.close()


def test_insert_many_writes_every_document_durable_or_not(collection: DocumentCollection) -> None:
    collection.insert_many([{"_id": "j1"}, {"_id": "j2"}], durable=True)
    collection.insert_many([{"_id": "n1"}, {"_id": "n2"}, {"_id": "n3"}], durable=False)
    collection.insert_many([], durable=False)
    assert collection.count_documents({}) == 5


def test_insert_many_is_unordered_and_reports_duplicates_as_storage_duplicate_key(
    collection: DocumentCollection,
) -> None:
    collection.insert_one({"_id": "d2"})
    with pytest.raises(DuplicateKey):
        collection.insert_many([{"_id": "d1"}, {"_id": "d2"}, {"_id": "d3"}], durable=False)
    # A failing document does not stop the others.
    assert sorted(d["_id"] for d in collection.find({})) == ["d1", "d2", "d3"]
