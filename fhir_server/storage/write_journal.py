"""The write journal: a transactional outbox of committed resource writes, for FHIR subscriptions
(`fhir_server.subscriptions`).

Every write of a journaled type — through the FHIR store (`MongoRepository`: API, bundles, the sync,
`$merge`) or a bulk load (`BulkLoader`: the legacy import, the demo) — inserts one journal document naming
the version it is about to write, just before writing it. So every committed version has its entry (a crash
after the entry and before the version leaves an entry without a version, which its reader drops once it
is old), and journaling stays outside the write's own transaction: two transactions inserting into one
collection conflict on the embedded database, and a journal inside every write's transaction would turn
independent writes into conflicts. The entry's `_id` is the version's key, so two writers racing for the
same version number journal it once, for whoever wins. The journal is what subscriptions read instead of
polling resources: one worker claims an entry at a time (`until`, its lease, moved by an atomic
`find_one_and_update`), turns it into notification events once its version is readable, and marks it done;
processed entries expire after a week.

Only the types subscription topics are about are journaled (the subscriptions package checks that its
topics' types are here), so other writes pay nothing — and only while somebody reads the journal: while no
subscription is on (`JournalGate`), a write journals nothing. A journal entry, its claim and its completion
were three more database operations per write, doubling the embedded database's work for a create and an
import, for notifications nobody had asked for.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime

from pymongo.collection import Collection
from pymongo.errors import PyMongoError

from fhir_server.type_aliases import Document

COLLECTION = "resource_writes"
JOURNALED_TYPES = frozenset({"ImagingStudy", "Patient"})


def journal_entry(resource_type: str, version_doc: Document, previous: int | None) -> Document:
    """The journal document of one stored version (`fhir_server.storage.mongo` document shape).
    `_id` is the version's own key, so a retried write cannot journal one version twice."""
    moment: datetime = version_doc["ts"]
    return {
        "_id": f"{resource_type}/{version_doc['_id']}",
        "type": resource_type,
        "id": version_doc["id"],
        "v": version_doc["v"],
        "prev": previous,
        "ts": moment,
        "done": False,
        # Claimable from the start: a worker claiming it moves this into the future (its lease).
        "until": moment,
    }


# Who reads the journal: the subscriptions feature keeps its subscriptions in this collection (its row in
# fhir_server.storage.schema); the journal is wanted while one of them is not off.
READERS = "subscriptions"
_READING = {"status": {"$ne": "off"}}
# How old the gate's answer may be. A subscription turned on is therefore seen by every writer of every
# process within this time: the subscriptions feature answers its create (or turn-on) only after it.
GATE_SECONDS = 1.0


class JournalGate:
    """Whether writes must journal now: asked before each journaled write, answered from a lookup at most
    `GATE_SECONDS` old (one indexed lookup a second per process, whatever the write rate). Fails safe: when
    the lookup fails, writes journal."""

    def __init__(self, readers: Collection[Document]) -> None:
        self._readers = readers
        self._lock = threading.Lock()
        self._wanted = True
        self._checked = float("-inf")

    def wanted(self) -> bool:
        now = time.monotonic()
        if now - self._checked < GATE_SECONDS:
            return self._wanted
        with self._lock:
            if time.monotonic() - self._checked < GATE_SECONDS:
                return self._wanted  # another writer looked while we waited
            # The moment is taken before the lookup: the answer is never trusted beyond what it saw.
            asked = time.monotonic()
            try:
                wanted = self._readers.find_one(_READING, {"_id": 1}) is not None
            except PyMongoError:
                return True
            self._wanted, self._checked = wanted, asked
            return wanted
