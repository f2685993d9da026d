"""Subscriptions and their numbered events in the database (collections declared in
fhir_server.storage.schema), with the atomic steps that let several workers share the work:

- a subscription's event numbers come from one `$inc` on its document, so they are unique and increase;
- an event is recorded once per journal entry (unique index on subscription + write), so a journal entry
  processed twice (its worker died before marking it done) adds nothing;
- a rest-hook subscription is delivered by the one worker holding its lease (`find_one_and_update` on a
  lease that expired), so each event is sent by one worker, and again only after a failure or a crash.
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fhir_server.storage.documents import ASCENDING, Documents
from fhir_server.storage.errors import DuplicateKey
from fhir_server.storage.write_journal import COLLECTION as JOURNAL
from fhir_server.storage.write_journal import GATE_SECONDS
from fhir_server.subscriptions.owner import Owner
from fhir_server.subscriptions.spec import SubscriptionSpec
from fhir_server.type_aliases import Document, JsonObject

SUBSCRIPTIONS = "subscriptions"
EVENTS = "subscription_events"
WS_TOKENS = "subscription_ws_tokens"
NEVER = datetime(9999, 1, 1, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# States in which events are recorded and delivered (`requested`: the handshake is still to succeed).
LIVE = ("requested", "active")


def _journal_seen() -> None:
    """Writes journal only while a subscription is on, as each process learned at most
    `GATE_SECONDS` ago (fhir_server.storage.write_journal): once this long has passed after turning one on,
    every write anywhere is journaled, so the subscription misses none committed after we answer."""
    time.sleep(GATE_SECONDS)


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Event:
    number: int
    focus_type: str
    focus_id: str
    version: int
    timestamp: datetime

    @classmethod
    def from_doc(cls, doc: Document) -> Event:
        return cls(doc["n"], doc["type"], doc["id"], doc["v"], utc(doc["ts"]))


def utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class SubscriptionState:
    def __init__(self, documents: Documents) -> None:
        self._subs = documents.collection(SUBSCRIPTIONS)
        self._events = documents.collection(EVENTS)
        self._tokens = documents.collection(WS_TOKENS)
        self._journal = documents.collection(JOURNAL)

    # -- subscriptions ----------------------------------------------------------------------------------

    def create(self, owner: Owner, spec: SubscriptionSpec, resource: JsonObject) -> Document:
        doc: Document = {
            "_id": uuid.uuid4().hex,
            "owner": owner.to_doc(),
            "owner_key": owner.key,
            "events": 0,
            "delivered": 0,
            "version": 0,
        }
        doc.update(self._fields(spec, resource, doc))
        self._subs.insert_one(doc)
        if doc["status"] != "off":
            _journal_seen()
        return doc

    def replace(self, current: Document, spec: SubscriptionSpec, resource: JsonObject) -> Document | None:
        """The client's new version (optimistic: None when another write came first)."""
        fields = self._fields(spec, resource, current)
        done = self._subs.update_one({"_id": current["_id"], "version": current["version"]}, {"$set": fields})
        if done.matched and current.get("status") == "off" and fields["status"] != "off":
            _journal_seen()
        return {**current, **fields} if done.matched else None

    def _fields(self, spec: SubscriptionSpec, resource: JsonObject, current: Document) -> Document:
        version = current["version"] + 1
        moment = now()
        status = "off" if spec.off else "active" if spec.channel == "websocket" else "requested"
        stored = {**resource, "id": current["_id"], "status": status}
        stored["meta"] = {
            **(resource.get("meta") or {}),
            "versionId": str(version),
            "lastUpdated": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
        stored.pop("error", None)
        return {
            "resource": stored,
            "version": version,
            "topic": spec.topic.url,
            "status": status,
            "filters": spec.filters,
            "channel": spec.channel,
            "endpoint": spec.endpoint,
            "headers": list(spec.headers),
            "content": spec.content,
            "heartbeat": spec.heartbeat_seconds,
            "timeout": spec.timeout_seconds,
            "max_count": spec.max_count,
            # (Re)activation: a new handshake, failures forgotten, due now.
            "handshake": spec.channel == "websocket",
            "attempts": 0,
            "next_attempt": moment,
            "lease": EPOCH,
            "heartbeat_due": moment + timedelta(seconds=spec.heartbeat_seconds)
            if spec.heartbeat_seconds
            else NEVER,
            "error": None,
            "end": spec.end,
        }

    def get(self, subscription_id: str) -> Document | None:
        return self._subs.find_one({"_id": subscription_id})

    def delete(self, subscription_id: str) -> bool:
        deleted = self._subs.delete_one({"_id": subscription_id}) == 1
        if deleted:
            self._events.delete_many({"sub": subscription_id})
        return deleted

    def owned_by(self, owner_key: str | None) -> list[Document]:
        """Every subscription (None: an administrator) or the owner's, oldest first."""
        query = {} if owner_key is None else {"owner_key": owner_key}
        return list(self._subs.find(query, sort=[("_id", ASCENDING)], limit=1000))

    def live_on(self, topic: str) -> list[Document]:
        """The subscriptions to `topic` that take events now (live, not past their end)."""
        moment = now()
        found = self._subs.find({"topic": topic, "status": {"$in": list(LIVE)}})
        return [d for d in found if d.get("end") is None or utc(d["end"]) > moment]

    def ended(self, sub: Document) -> None:
        """Past its end: off, as if its owner had turned it off."""
        self._subs.update_one(
            {"_id": sub["_id"], "version": sub["version"]},
            {"$set": {"status": "off", "resource.status": "off", "lease": EPOCH}},
        )

    # -- events -----------------------------------------------------------------------------------------

    def record_event(self, sub: Document, write_id: str, focus: tuple[str, str, int]) -> int | None:
        """Append one event (its number), unless this journal entry was already recorded for `sub`."""
        if self._events.find_one({"sub": sub["_id"], "write": write_id}, {"_id": 1}) is not None:
            return None
        counted = self._subs.find_one_and_update(
            {"_id": sub["_id"]},
            {"$inc": {"events": 1}, "$set": {"pending": True}},
            {"events": 1},
            return_after=True,
        )
        if counted is None:  # deleted meanwhile
            return None
        number: int = counted["events"]
        resource_type, resource_id, version = focus
        try:
            self._events.insert_one(
                {
                    "_id": f"{sub['_id']}/{number}",
                    "sub": sub["_id"],
                    "n": number,
                    "write": write_id,
                    "type": resource_type,
                    "id": resource_id,
                    "v": version,
                    "ts": now(),
                }
            )
        except DuplicateKey:
            return None
        return number

    def events(self, subscription_id: str, since: int, until: int | None, limit: int) -> list[Event]:
        """Events numbered `since`..`until` (inclusive), oldest first."""
        bounds: dict[str, int] = {"$gte": since}
        if until is not None:
            bounds["$lte"] = until
        found = self._events.find({"sub": subscription_id, "n": bounds}, sort=[("n", ASCENDING)], limit=limit)
        return [Event.from_doc(doc) for doc in found]

    # -- the journal --------------------------------------------------------------------------------------

    def claim_write(self, lease_seconds: float) -> Document | None:
        moment = now()
        return self._journal.find_one_and_update(
            {"done": False, "until": {"$lte": moment}},
            {"$set": {"until": moment + timedelta(seconds=lease_seconds)}},
            return_after=True,
        )

    def journal_occurrence(self, topic: str, resource_type: str, resource_id: str) -> None:
        """An event that is no resource write (a share link opened): journaled for `topic` alone, about the
        current version of the resource, and processed like a write."""
        moment = now()
        self._journal.insert_one(
            {
                "_id": f"{topic}#{uuid.uuid4().hex}",
                "type": resource_type,
                "id": resource_id,
                "v": None,
                "topic": topic,
                "ts": moment,
                "done": False,
                "until": moment,
            }
        )

    def defer_write(self, write_id: str, seconds: float) -> None:
        self._journal.update_one({"_id": write_id}, {"$set": {"until": now() + timedelta(seconds=seconds)}})

    def write_done(self, write_id: str) -> None:
        self._journal.update_one({"_id": write_id}, {"$set": {"done": True, "done_at": now()}})

    # -- rest-hook delivery -----------------------------------------------------------------------------

    def claim_delivery(self, lease_seconds: float) -> Document | None:
        """A rest-hook subscription with something to send now (handshake, events, heartbeat), leased to
        the caller, or None."""
        moment = now()
        return self._subs.find_one_and_update(
            {
                "channel": "rest-hook",
                "status": {"$in": list(LIVE)},
                "lease": {"$lte": moment},
                "next_attempt": {"$lte": moment},
                "$or": [{"handshake": False}, {"pending": True}, {"heartbeat_due": {"$lte": moment}}],
            },
            {"$set": {"lease": moment + timedelta(seconds=lease_seconds)}},
            return_after=True,
        )

    def handshake_done(self, sub: Document) -> None:
        self._subs.update_one(
            {"_id": sub["_id"], "version": sub["version"]},
            {"$set": {"handshake": True, "status": "active", "resource.status": "active", "attempts": 0}},
        )

    def delivered(self, sub: Document, number: int) -> None:
        self._subs.update_one(
            {"_id": sub["_id"], "delivered": {"$lt": number}}, {"$set": {"delivered": number, "attempts": 0}}
        )
        # Nothing left: not pending (unless an event came meanwhile: `events` moved on).
        self._subs.update_one({"_id": sub["_id"], "events": number}, {"$set": {"pending": False}})

    def nothing_pending(self, sub: Document) -> None:
        """No event after the delivered ones (the count as claimed; a newer event keeps it pending)."""
        self._subs.update_one({"_id": sub["_id"], "events": sub["events"]}, {"$set": {"pending": False}})

    def sent(self, sub: Document) -> None:
        """Something reached the endpoint: the next heartbeat is a period later; the lease is released."""
        period = sub.get("heartbeat")
        due = now() + timedelta(seconds=period) if period else NEVER
        self._subs.update_one(
            {"_id": sub["_id"]}, {"$set": {"heartbeat_due": due, "lease": EPOCH, "attempts": 0}}
        )

    def failed(self, sub: Document, reason: str, max_attempts: int, first_retry: float) -> bool:
        """One more failed attempt: retried after first_retry x 2^(attempts-1) s, or (after `max_attempts`)
        the subscription is in error. Returns whether it is now in error."""
        attempts = int(sub.get("attempts") or 0) + 1
        moment = now()
        fields: dict[str, Any] = {"attempts": attempts, "lease": EPOCH, "error": reason[:500]}
        in_error = attempts >= max_attempts
        if in_error:
            fields.update({"status": "error", "resource.status": "error"})
        else:
            delay = min(first_retry * 2 ** (attempts - 1), 3600.0)
            fields["next_attempt"] = moment + timedelta(seconds=delay)
        self._subs.update_one({"_id": sub["_id"], "version": sub["version"]}, {"$set": fields})
        return in_error

    def release(self, sub: Document) -> None:
        self._subs.update_one({"_id": sub["_id"]}, {"$set": {"lease": EPOCH}})

    # -- websocket binding tokens -------------------------------------------------------------------------

    def binding_token(
        self, subscription_ids: list[str], owner_key: str, seconds: int
    ) -> tuple[str, datetime]:
        token = secrets.token_urlsafe(32)
        expires = now() + timedelta(seconds=seconds)
        self._tokens.insert_one(
            {"_id": token, "subs": subscription_ids, "owner_key": owner_key, "expires": expires}
        )
        return token, expires

    def redeem(self, token: str) -> list[str] | None:
        """The subscriptions a binding token names; single use, and only before it expires."""
        doc = self._tokens.find_one({"_id": token})
        if doc is None or self._tokens.delete_one({"_id": token}) != 1:
            return None
        if utc(doc["expires"]) <= now():
            return None
        return list(doc["subs"])
