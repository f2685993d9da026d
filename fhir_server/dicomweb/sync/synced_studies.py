"""Which ImagingStudy each Orthanc study became: the Mongo collection `synced_studies`.

Needed because Orthanc names a study by its own hash id (all that its study list gives, and all that is
left once a study is deleted), while the proxy names it by Study Instance UID; and because a study the
legacy import created keeps its id when the sync adopts it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from fhir_server.storage.documents import Documents
from fhir_server.type_aliases import Document

COLLECTION = "synced_studies"


@dataclass(frozen=True)
class SyncedStudy:
    organization_id: str
    orthanc_id: str
    study_uid: str
    fhir_id: str
    deleted: bool


class SyncedStudies:
    def __init__(self, documents: Documents) -> None:
        self._collection = documents.collection(COLLECTION)  # indexes: fhir_server.storage.schema

    def record(self, organization_id: str, orthanc_id: str, study_uid: str, fhir_id: str) -> None:
        self._collection.replace_one(
            {"_id": _key(organization_id, orthanc_id)},
            {
                "hospital": organization_id,
                "orthanc_id": orthanc_id,
                "study_uid": study_uid,
                "fhir_id": fhir_id,
                "deleted": False,
                "synced_at": datetime.now(UTC),
            },
            upsert=True,
        )

    def mark_deleted(self, study: SyncedStudy) -> None:
        self._collection.update_one(
            {"_id": _key(study.organization_id, study.orthanc_id)},
            {"$set": {"deleted": True, "synced_at": datetime.now(UTC)}},
        )

    def by_orthanc_id(self, organization_id: str, orthanc_id: str) -> SyncedStudy | None:
        return _from_doc(self._collection.find_one({"_id": _key(organization_id, orthanc_id)}))

    def by_uid(self, organization_id: str, study_uid: str) -> SyncedStudy | None:
        return _from_doc(self._collection.find_one({"hospital": organization_id, "study_uid": study_uid}))

    def by_uids(self, organization_id: str, study_uids: Iterable[str]) -> dict[str, SyncedStudy]:
        docs = self._collection.find(
            {"hospital": organization_id, "study_uid": {"$in": sorted(set(study_uids))}}
        )
        found = (_from_doc(doc) for doc in docs)
        return {study.study_uid: study for study in found if study is not None}

    def holders(self, study_uid: str) -> list[SyncedStudy]:
        """The hospitals' records of `study_uid` still present in their Orthanc (for the federated root)."""
        docs = self._collection.find({"study_uid": study_uid, "deleted": False})
        found = (_from_doc(doc) for doc in docs)
        return sorted((s for s in found if s is not None), key=lambda s: s.organization_id)

    def present(self, organization_id: str) -> list[SyncedStudy]:
        """The hospital's studies last seen in its Orthanc (not yet known to be deleted)."""
        docs = self._collection.find({"hospital": organization_id, "deleted": False})
        return [study for study in map(_from_doc, docs) if study is not None]


def _key(organization_id: str, orthanc_id: str) -> str:
    return f"{organization_id}/{orthanc_id}"


def _from_doc(doc: Document | None) -> SyncedStudy | None:
    if doc is None:
        return None
    return SyncedStudy(
        doc["hospital"], doc["orthanc_id"], doc["study_uid"], doc["fhir_id"], bool(doc["deleted"])
    )
