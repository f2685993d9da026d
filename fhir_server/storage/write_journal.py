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
topics' types are here), so other writes pay nothing.
"""

from __future__ import annotations

from datetime import datetime

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
