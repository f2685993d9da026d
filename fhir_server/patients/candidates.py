"""Possible duplicate Patients: the Mongo collection `patient_match_candidates`.

The sync writes one when a Patient it had to create (no national ID or hospital-local ID joined it to
anyone) has the same demographics as an existing Patient (fhir_server.patients.demographics). A person
decides: merge (`Patient/$merge`, which marks the candidate `merged`) or dismiss (`dismissed`, with who and
when). Nothing is merged automatically: two people can share a name, a birthday and a sex.

One document per pair of Patients, whichever order they were found in; a pair found again by a later sync
keeps its status, so a dismissed candidate stays dismissed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from fhir_server.params import instant
from fhir_server.storage.documents import DESCENDING, Documents
from fhir_server.type_aliases import Document

COLLECTION = "patient_match_candidates"

Status = Literal["open", "dismissed", "merged"]
STATUSES: tuple[Status, ...] = ("open", "dismissed", "merged")


@dataclass(frozen=True)
class Candidate:
    id: str
    source: str  # Patient id the sync created: the suggested source of a merge
    target: str  # the existing Patient it resembles: the suggested survivor
    status: Status
    reason: str
    detected_at: datetime
    hospital: str | None  # Organization id of the hospital whose study created the source
    hospital_name: str | None
    study_uid: str | None
    decided_at: datetime | None
    decided_by: str | None
    merged_into: str | None

    def public_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "reason": self.reason,
            "detectedAt": instant(self.detected_at),
            "hospital": {"organization": f"Organization/{self.hospital}", "name": self.hospital_name}
            if self.hospital
            else None,
            "studyInstanceUid": self.study_uid,
            "decidedAt": instant(self.decided_at),
            "decidedBy": self.decided_by,
            "mergedInto": f"Patient/{self.merged_into}" if self.merged_into else None,
        }


class DecisionConflict(Exception):
    """The candidate was already decided otherwise (a merged pair cannot be dismissed)."""

    def __init__(self, candidate: Candidate) -> None:
        super().__init__(f"candidate {candidate.id} is {candidate.status}")
        self.candidate = candidate


def candidate_id(a: str, b: str) -> str:
    """The same id for (a, b) and (b, a): a pair is one candidate whichever side the sync met first."""
    first, second = sorted((a, b))
    return "pm-" + hashlib.sha256(f"{first}\x1f{second}".encode()).hexdigest()[:32]


class MatchCandidates:
    def __init__(self, documents: Documents) -> None:
        self._collection = documents.collection(COLLECTION)  # indexes: fhir_server.storage.schema

    def record(
        self,
        source: str,
        target: str,
        *,
        reason: str,
        hospital: str | None = None,
        hospital_name: str | None = None,
        study_uid: str | None = None,
    ) -> bool:
        """Open a candidate for the pair unless one exists (in any status); True if it is new."""
        result = self._collection.update_one(
            {"_id": candidate_id(source, target)},
            {
                "$setOnInsert": {
                    "source": source,
                    "target": target,
                    "status": "open",
                    "reason": reason,
                    "detected_at": datetime.now(UTC),
                    "hospital": hospital,
                    "hospital_name": hospital_name,
                    "study_uid": study_uid,
                }
            },
            upsert=True,
        )
        return result.upserted

    def get(self, candidate: str) -> Candidate | None:
        return _candidate(self._collection.find_one({"_id": candidate}))

    def list(self, status: Status | None = "open", limit: int = 200) -> list[Candidate]:
        query: Document = {} if status is None else {"status": status}
        cursor = self._collection.find(query, sort=[("detected_at", DESCENDING)], limit=limit)
        return [c for c in map(_candidate, cursor) if c is not None]

    def dismiss(self, candidate: str, by: str) -> Candidate | None:
        """Record that `by` decided the pair are two people. None if there is no such candidate."""
        updated = self._collection.find_one_and_update(
            {"_id": candidate, "status": {"$ne": "merged"}},
            {"$set": {"status": "dismissed", "decided_at": datetime.now(UTC), "decided_by": by}},
            return_after=True,
        )
        if updated is not None:
            return _candidate(updated)
        current = self.get(candidate)
        if current is not None:
            raise DecisionConflict(current)
        return None

    def resolve_merged(self, source: str, target: str, by: str) -> int:
        """After `Patient/$merge` of source into target: the pair's candidate (if any) is `merged`."""
        result = self._collection.update_one(
            {"_id": candidate_id(source, target)},
            {
                "$set": {
                    "status": "merged",
                    "decided_at": datetime.now(UTC),
                    "decided_by": by,
                    "merged_into": target,
                }
            },
        )
        return result.modified


def _candidate(doc: Document | None) -> Candidate | None:
    if doc is None:
        return None
    return Candidate(
        id=doc["_id"],
        source=doc["source"],
        target=doc["target"],
        status=doc.get("status", "open"),
        reason=doc.get("reason", ""),
        detected_at=doc["detected_at"],
        hospital=doc.get("hospital"),
        hospital_name=doc.get("hospital_name"),
        study_uid=doc.get("study_uid"),
        decided_at=doc.get("decided_at"),
        decided_by=doc.get("decided_by"),
        merged_into=doc.get("merged_into"),
    )


def start(documents: Documents) -> MatchCandidates:
    """The server's candidate store (app.state.patient_matches)."""
    return MatchCandidates(documents)
