"""Connecting to MongoDB: the embedded database by default, an external one when FHIR_MONGODB_URI is set.

Outside `fhir_server.storage` a connection is used through `documents` (feature state), `ping` (readiness)
and `close`; the driver objects (`client`, `db`) are storage's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import pymongo
from pymongo.database import Database
from pymongo.errors import PyMongoError
from pymongo.write_concern import WriteConcern

from fhir_server.settings import Settings
from fhir_server.storage.command_timer import DatabaseCommandTimer
from fhir_server.storage.documents import MongoDocuments
from fhir_server.storage.embedded import EmbeddedDatabase, Role, open_embedded
from fhir_server.storage.errors import DatabaseUnavailable
from fhir_server.storage.write_journal import READERS as JOURNAL_READERS
from fhir_server.storage.write_journal import JournalGate
from fhir_server.type_aliases import Document


@dataclass
class DatabaseConnection:
    client: pymongo.MongoClient[Document]
    db: Database[Document]
    supports_transactions: bool
    embedded: EmbeddedDatabase | None = field(default=None, repr=False)

    @cached_property
    def documents(self) -> MongoDocuments:
        """The feature-state collections (`fhir_server.storage.documents`)."""
        return MongoDocuments(self.db)

    @cached_property
    def journal_gate(self) -> JournalGate:
        """Whether writes journal now (`fhir_server.storage.write_journal`), one per connection (process)."""
        return JournalGate(self.db.get_collection(JOURNAL_READERS))

    def ping(self) -> None:
        """Raises DatabaseUnavailable when the database does not answer."""
        try:
            self.client.admin.command("ping")
        except PyMongoError as exc:
            raise DatabaseUnavailable(str(exc)) from exc

    def close(self) -> None:
        self.client.close()
        if self.embedded is not None:
            self.embedded.close()


def connect(settings: Settings, role: Role) -> DatabaseConnection:
    embedded: EmbeddedDatabase | None = None
    if settings.mongodb_uri is None:
        embedded = open_embedded(settings.data_dir, role, settings.db_startup_timeout_seconds)
        uri = embedded.uri
        # Journaled writes: an acknowledged write must survive kill -9 of both processes.
        write_concern = WriteConcern(w=1, j=True)
    else:
        uri = settings.mongodb_uri
        write_concern = WriteConcern(j=True)
    client: pymongo.MongoClient[Document] = pymongo.MongoClient(
        uri,
        tz_aware=True,
        serverSelectionTimeoutMS=int(settings.db_startup_timeout_seconds * 1000),
        event_listeners=[DatabaseCommandTimer()],
    )
    try:
        hello = client.admin.command("hello")
    except PyMongoError:
        client.close()
        if embedded is not None:
            embedded.close()
        raise
    db = client.get_database(settings.database_name, write_concern=write_concern)
    # Multi-document transactions need a replica set or a sharded cluster.
    transactions = bool(hello.get("setName")) or hello.get("msg") == "isdbgrid"
    return DatabaseConnection(client=client, db=db, supports_transactions=transactions, embedded=embedded)
