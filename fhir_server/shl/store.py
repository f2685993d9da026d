"""The link store: one document per SMART Health Link in `shl_links`, short-lived file locations in
`shl_locations` (TTL index; every lookup also checks `expires`).

A link document holds the management id (`_id`), the manifest id (32 random bytes, base64url: the
>= 256 bits of entropy of the manifest URL), the link key and non-L content sealed under the master key,
the passcode as an scrypt hash and the remaining passcode attempts: a lifetime budget. Every passcode
request takes one attempt with one atomic, guarded `find_one_and_update` BEFORE its passcode is compared,
and only a right passcode gives it back, so however many guesses arrive in parallel (in any worker) at most
the budget of wrong ones is ever compared and the count never goes below zero.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fhir_server.storage.documents import Documents

LINKS = "shl_links"
LOCATIONS = "shl_locations"


def now() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime | None) -> datetime | None:
    return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Link:
    doc: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.doc["_id"])

    @property
    def flags(self) -> str:
        return str(self.doc.get("flags", ""))

    @property
    def patient(self) -> str:
        return str(self.doc["patient"])

    @property
    def study(self) -> str | None:
        return self.doc.get("study")

    @property
    def expires(self) -> datetime | None:
        return aware(self.doc.get("expires"))

    def status(self, at: datetime | None = None) -> str:
        """active, revoked, expired or exhausted (passcode attempts used up)."""
        if self.doc.get("revoked"):
            return "revoked"
        expires = self.expires
        if expires is not None and expires <= (at or now()):
            return "expired"
        if "P" in self.flags and int(self.doc.get("attempts", 0)) <= 0:
            return "exhausted"
        return "active"

    @property
    def active(self) -> bool:
        return self.status() == "active"


class LinkStore:
    def __init__(self, documents: Documents) -> None:
        # Unique `manifest`, expiring locations: fhir_server.storage.schema.
        self._links = documents.collection(LINKS)
        self._locations = documents.collection(LOCATIONS)

    def insert(self, doc: dict[str, Any]) -> Link:
        doc = {
            "_id": secrets.token_urlsafe(12),
            "manifest": secrets.token_urlsafe(32),
            "created": now(),
            **doc,
        }
        self._links.insert_one(doc)
        return Link(doc)

    def get(self, link_id: str) -> Link | None:
        doc = self._links.find_one({"_id": link_id})
        return Link(doc) if doc else None

    def by_manifest(self, manifest_id: str) -> Link | None:
        doc = self._links.find_one({"manifest": manifest_id})
        return Link(doc) if doc else None

    def for_patient(self, patient: str) -> list[Link]:
        return [Link(d) for d in self._links.find({"patient": patient}, sort=[("created", -1)])]

    def find_one(self, query: dict[str, Any]) -> Link | None:
        doc = self._links.find_one({**query, "revoked": None}, sort=[("created", -1)])
        return Link(doc) if doc else None

    def take_attempt(self, link_id: str) -> int | None:
        """Take one passcode attempt before comparing: the attempts left after it, or None when none were
        left (then nothing may be compared). Atomic: the guard and the decrement are one operation."""
        doc = self._links.find_one_and_update(
            {"_id": link_id, "attempts": {"$gt": 0}},
            {"$inc": {"attempts": -1}},
            {"attempts": 1},
            return_after=True,
        )
        return None if doc is None else int(doc["attempts"])

    def give_back_attempt(self, link_id: str) -> None:
        """A right passcode costs nothing: return the attempt it took."""
        self._links.update_one({"_id": link_id}, {"$inc": {"attempts": 1}})

    def revoke(self, link_id: str) -> Link | None:
        doc = self._links.find_one_and_update(
            {"_id": link_id},
            {"$set": {"revoked": now()}},
            return_after=True,
        )
        return Link(doc) if doc else None

    def remember_token(self, link_id: str, jti: str, exp: int) -> None:
        self._links.update_one({"_id": link_id}, {"$push": {"tokens": {"jti": jti, "exp": exp}}})

    def add_location(self, link_id: str, content_type: str, seconds: float) -> str:
        token = secrets.token_urlsafe(32)
        self._locations.insert_one(
            {
                "_id": token,
                "link": link_id,
                "type": content_type,
                "expires": now() + timedelta(seconds=seconds),
            }
        )
        return token

    def location(self, token: str) -> tuple[str, str] | None:
        """(link id, content type) of a location that has not expired."""
        doc = self._locations.find_one({"_id": token, "expires": {"$gt": now()}})
        return (str(doc["link"]), str(doc["type"])) if doc else None
