"""The background worker of each server process: turns journaled writes into subscription events and
delivers rest-hook notifications.

1. Journal → events. A worker claims one journal entry at a time (fhir_server.storage.write_journal), reads
   the version it names and the one before, and for every topic it triggers records an event on each live
   subscription whose filters match and whose owner may read the focus (their secured store decides).
2. Delivery. A worker leases one rest-hook subscription with something due — its handshake, events after
   the last delivered one, a heartbeat — and POSTs the notification Bundle. Success moves `delivered` on;
   a failure retries after an exponentially growing delay, and after FHIR_SUBSCRIPTION_MAX_ATTEMPTS
   failures in a row the subscription is in `error` (no more attempts until its owner sets it `requested`).

Everything it works from is in the database, so a restarted server carries on where the old one stopped
(at-least-once: an event whose delivery was cut short is sent again, with the same number). The worker
wakes on a change stream of the journal, and at least every second.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx

from fhir_server.security.access.store import store_for
from fhir_server.settings import Settings
from fhir_server.storage.documents import ChangeStreamsUnsupported, Documents
from fhir_server.storage.errors import StorageError
from fhir_server.storage.repository import ResourceStore
from fhir_server.storage.write_journal import COLLECTION as JOURNAL
from fhir_server.subscriptions.notifications import NotificationType, notification_bundle
from fhir_server.subscriptions.owner import Owner
from fhir_server.subscriptions.spec import MAX_TIMEOUT_SECONDS
from fhir_server.subscriptions.state import Event, SubscriptionState, now, utc
from fhir_server.subscriptions.topics import TOPICS
from fhir_server.type_aliases import Document, JsonObject

log = logging.getLogger(__name__)

JOURNAL_LEASE_SECONDS = 30.0
IDLE_SECONDS = 1.0
# A journal entry whose version is not readable yet is looked at again this much later, and dropped once
# this old (its write failed, or its writer died before writing it).
RECHECK_SECONDS = 0.05
ORPHAN_AFTER = timedelta(seconds=120)
# Longer than the longest delivery (the channel timeout is at most MAX_TIMEOUT_SECONDS): a lease outlives
# only a worker that died holding it.
DELIVERY_LEASE_SECONDS = float(MAX_TIMEOUT_SECONDS + 10)


class Dispatcher:
    def __init__(self, app_state: Any, state: SubscriptionState, documents: Documents) -> None:
        self._app_state = app_state
        self._state = state
        self._documents = documents
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._recheck = False  # an entry waits for its write to commit: look again soon
        # Called with a subscription id whenever this process recorded an event (the websocket hub).
        self.listeners: list[Callable[[str], None]] = []

    @property
    def _settings(self) -> Settings:
        settings: Settings = self._app_state.services.settings
        return settings

    @property
    def _repository(self) -> ResourceStore:
        repository: ResourceStore = self._app_state.services.repository
        return repository

    def start(self) -> Dispatcher:
        for target, name in ((self._run, "subscriptions"), (self._watch, "subscriptions-journal-watch")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout=15)

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                busy = self.process_journal() | self.deliver_due()
            except StorageError as exc:  # the database went away for a moment: try again shortly
                log.warning("subscriptions: %s", exc)
                busy = False
            except Exception:
                log.exception("subscriptions: dispatcher pass failed")
                busy = False
            if not busy:
                self._wake.wait(RECHECK_SECONDS if self._recheck else IDLE_SECONDS)
                self._wake.clear()

    def _watch(self) -> None:
        """Wake the dispatcher as soon as a write is journaled (by any worker)."""
        while not self._stopping.is_set():
            try:
                feed = self._documents.collection(JOURNAL).watch_changes(wait_seconds=1.0)
            except ChangeStreamsUnsupported:
                return  # a standalone MongoDB: the dispatcher's idle wait is the only clock
            except Exception:
                log.warning("subscriptions: journal watch failed; retrying", exc_info=True)
                self._stopping.wait(5)
                continue
            try:
                while not self._stopping.is_set():
                    if feed.next_change() is not None:
                        self._wake.set()
            except Exception:
                log.warning("subscriptions: journal watch interrupted; reopening", exc_info=True)
            finally:
                feed.close()

    # -- journal → events ---------------------------------------------------------------------------------

    def process_journal(self) -> bool:
        """Process at most a batch of journal entries; whether there was any."""
        did = False
        self._recheck = False
        for _ in range(100):
            entry = self._state.claim_write(JOURNAL_LEASE_SECONDS)
            if entry is None:
                break
            did = True
            if self._record_events(entry) or utc(entry["ts"]) < now() - ORPHAN_AFTER:
                self._state.write_done(entry["_id"])
            else:  # journaled just before its write, which has not committed yet
                self._state.defer_write(entry["_id"], RECHECK_SECONDS)
                self._recheck = True
        return did

    def _record_events(self, entry: Document) -> bool:
        """Record the events of one journal entry; False while its version is not readable yet."""
        resource_type, resource_id, version = entry["type"], entry["id"], entry["v"]
        occurrence = TOPICS.get(entry.get("topic") or "")
        if occurrence is not None:  # no write: about the resource as it is now
            current = self._repository.read(resource_type, resource_id)
            if current is None:
                return True
            version = current.version
        else:
            current = self._repository.vread(resource_type, resource_id, version)
            if current is None:
                return False
        if current.resource is None:
            return True  # a deletion: no topic is about deletions
        previous = None
        if entry.get("prev"):
            before = self._repository.vread(resource_type, resource_id, entry["prev"])
            previous = before.resource if before is not None else None
        for topic in TOPICS.values():
            if topic.resource_type != resource_type:
                continue
            if occurrence is not None:
                if topic is not occurrence:
                    continue
            elif not topic.triggered(previous, current.resource):
                continue
            for sub in self._state.live_on(topic.url):
                if not topic.matches(sub.get("filters") or {}, current.resource, self._lookup):
                    continue
                if not self._owner_sees(sub, resource_type, current.resource):
                    continue
                number = self._state.record_event(sub, entry["_id"], (resource_type, resource_id, version))
                if number is not None:
                    for listener in self.listeners:
                        listener(sub["_id"])
        return True

    def _lookup(self, resource_type: str, resource_id: str) -> JsonObject | None:
        found = self._repository.read(resource_type, resource_id)
        return found.resource if found is not None else None

    def _owner(self, sub: Document) -> Owner | None:
        owner = Owner.from_doc(sub.get("owner"))
        if owner is None or owner.revoked(self._app_state.auth.revocations):
            return None
        return owner

    def _owner_sees(self, sub: Document, resource_type: str, resource: JsonObject) -> bool:
        owner = self._owner(sub)
        return owner is not None and store_for(self._app_state, owner.access).visible(resource_type, resource)

    def read_focus(self, sub: Document) -> Callable[[Event], JsonObject | None]:
        """Reads an event's focus for a full-resource payload through the owner's secured store (audited as
        the owner's access; None when they may no longer see it)."""
        owner = self._owner(sub)

        def read(event: Event) -> JsonObject | None:
            if owner is None:
                return None
            store = store_for(self._app_state, owner.access, "vread")
            found = store.vread(event.focus_type, event.focus_id, event.version)
            return found.resource if found is not None else None

        return read

    # -- rest-hook delivery -----------------------------------------------------------------------------

    def deliver_due(self) -> bool:
        did = False
        for _ in range(20):
            sub = self._state.claim_delivery(DELIVERY_LEASE_SECONDS)
            if sub is None:
                break
            did = True
            self._deliver(sub)
        return did

    def _deliver(self, sub: Document) -> None:
        settings = self._settings
        if sub.get("end") is not None and utc(sub["end"]) <= now():
            self._state.ended(sub)
            return
        if self._owner(sub) is None:  # its creator's user or client was disabled or deleted since
            self._state.failed(sub, "the access of the subscription's creator was revoked", 1, 0)
            return
        sent = False
        try:
            if not sub.get("handshake"):
                self._post(sub, "handshake")
                self._state.handshake_done(sub)
                sub = {**sub, "status": "active"}
                sent = True
            since = int(sub.get("delivered") or 0) + 1
            events = self._state.events(sub["_id"], since, None, int(sub["max_count"]))
            if events:
                self._post(sub, "event-notification", events)
                self._state.delivered(sub, events[-1].number)
                sent = True
            else:
                self._state.nothing_pending(sub)
            if not sent and utc(sub["heartbeat_due"]) <= now():
                self._post(sub, "heartbeat")
                sent = True
        except DeliveryFailed as exc:
            in_error = self._state.failed(
                sub, str(exc), settings.subscription_max_attempts, settings.subscription_retry_seconds
            )
            log.info(
                "subscriptions: delivery to %s failed (%s)%s",
                sub["_id"],
                exc,
                "; now in error" if in_error else "",
            )
            return
        if sent:
            self._state.sent(sub)
        else:
            self._state.release(sub)

    def _post(self, sub: Document, kind: NotificationType, events: list[Event] | None = None) -> None:
        owner = Owner.from_doc(sub.get("owner"))
        base = owner.access.base_url if owner is not None else ""
        bundle = notification_bundle(sub, base, kind, events or [], self.read_focus(sub))
        headers = {"Content-Type": "application/fhir+json"}
        for line in sub.get("headers") or []:
            name, _, value = str(line).partition(":")
            headers[name.strip()] = value.strip()
        try:
            with httpx.Client(
                timeout=_timeout(sub.get("timeout")), follow_redirects=False, trust_env=False
            ) as client:
                response = client.post(str(sub["endpoint"]), json=bundle, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"{type(exc).__name__}: {exc}"[:300]) from None
        if not 200 <= response.status_code < 300:
            raise DeliveryFailed(f"the endpoint answered {response.status_code}")


class DeliveryFailed(Exception):
    pass


def _timeout(value: Any) -> int:
    return value if isinstance(value, int) and value > 0 else 10
