"""The write journal is written only while a subscription is on (fhir_server.storage.write_journal
`JournalGate`): writes pay nothing for notifications nobody asked for, and a subscription turned on is seen
by every writer within `GATE_SECONDS`."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from fhir_server.resource_types import MODELS
from fhir_server.search.index import SearchIndexer
from fhir_server.settings import Settings
from fhir_server.storage.connection import DatabaseConnection, connect
from fhir_server.storage.mongo import MongoRepository
from fhir_server.storage.write_journal import COLLECTION, GATE_SECONDS, READERS
from tests.server_process import RunningServer


@pytest.fixture
def own_database(server: RunningServer) -> Iterator[DatabaseConnection]:
    """A database of its own on the suite's server: no other test's subscriptions."""
    shared = connect(Settings(data_dir=server.data_dir), "cli")
    name = f"journal_gate_{uuid.uuid4().hex[:8]}"
    yield DatabaseConnection(shared.client, shared.client.get_database(name), shared.supports_transactions)
    shared.client.drop_database(name)
    shared.close()


def _journaled(connection: DatabaseConnection, repository: MongoRepository) -> bool:
    created = repository.create({"resourceType": "Patient", "gender": "other"})
    return connection.db[COLLECTION].find_one({"id": created.id}) is not None


def test_writes_journal_only_while_a_subscription_is_on(own_database: DatabaseConnection) -> None:
    repository = MongoRepository(own_database, list(MODELS), SearchIndexer().index_values)
    assert not _journaled(own_database, repository)  # nobody subscribes: nothing written for them

    readers = own_database.db[READERS]
    readers.insert_one({"_id": "s1", "status": "requested"})
    # A second process (its own connection and gate) learns of it within GATE_SECONDS, as this one does.
    other = DatabaseConnection(own_database.client, own_database.db, own_database.supports_transactions)
    other_repository = MongoRepository(other, list(MODELS), SearchIndexer().index_values)
    time.sleep(GATE_SECONDS)
    assert _journaled(own_database, repository)
    assert _journaled(other, other_repository)

    readers.update_one({"_id": "s1"}, {"$set": {"status": "off"}})
    time.sleep(GATE_SECONDS)
    assert not _journaled(own_database, repository)  # every subscription off: journaling stops
