"""Authorization requests between `/authorize` and the consent decision: login, patient picker, consent.

Each is a database record (so any worker can continue it) named by an unguessable id carried in the pages'
forms, and bound to the browser that started it by a secret cookie, so that a request id leaked or planted
from elsewhere cannot be completed in another browser (login CSRF, RFC 9700 §4.4.1.8).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from fhir_server.security.oauth.expiring import digest, expires_in, live
from fhir_server.storage.documents import Documents

PENDING_LIFETIME_SECONDS = 15 * 60
MAX_LOGIN_FAILURES = 5


@dataclass(frozen=True)
class PendingAuthorization:
    tx: str
    params: list[tuple[str, str]]  # the validated authorization request, replayed at consent
    client_id: str
    client_name: str
    scope: str  # requested scope, already narrowed to what the client may ask for
    launch_patient: str | None  # from an EHR launch context
    ehr_launch: bool
    username: str | None = None
    patient: str | None = None
    auth_time: int | None = None
    failures: int = 0


class PendingAuthorizations:
    def __init__(self, documents: Documents) -> None:
        self._pending = documents.collection("auth_pending")

    def create(
        self,
        browser_secret: str,
        params: list[tuple[str, str]],
        client_id: str,
        client_name: str,
        scope: str,
        launch_patient: str | None,
        ehr_launch: bool,
    ) -> PendingAuthorization:
        tx = secrets.token_urlsafe(24)
        self._pending.insert_one(
            {
                "_id": tx,
                "browser": digest(browser_secret),
                "params": [list(p) for p in params],
                "client_id": client_id,
                "client_name": client_name,
                "scope": scope,
                "launch_patient": launch_patient,
                "ehr_launch": ehr_launch,
                "username": None,
                "patient": None,
                "failures": 0,
                "expires": expires_in(PENDING_LIFETIME_SECONDS),
            }
        )
        return PendingAuthorization(tx, params, client_id, client_name, scope, launch_patient, ehr_launch)

    def get(self, tx: str, browser_secret: str | None) -> PendingAuthorization | None:
        if not tx or not browser_secret:
            return None
        doc = self._pending.find_one(live({"_id": tx, "browser": digest(browser_secret)}))
        return None if doc is None else _from_doc(doc)

    def update(self, tx: str, **changes: Any) -> None:
        self._pending.update_one({"_id": tx}, {"$set": changes})

    def take_login_attempt(self, tx: str) -> int | None:
        """Count a login attempt against this sign-in request BEFORE its password is compared; its number
        (1, 2, …), or None when the request has used up its attempts. Atomic, so that parallel posts of one
        login form cannot together compare more than MAX_LOGIN_FAILURES passwords."""
        doc = self._pending.find_one_and_update(
            {"_id": tx, "failures": {"$lt": MAX_LOGIN_FAILURES}},
            {"$inc": {"failures": 1}},
            {"failures": 1},
            return_after=True,
        )
        return None if doc is None else int(doc["failures"])

    def finish(self, tx: str) -> None:
        self._pending.delete_one({"_id": tx})


def _from_doc(doc: dict[str, Any]) -> PendingAuthorization:
    return PendingAuthorization(
        tx=doc["_id"],
        params=[(k, v) for k, v in doc["params"]],
        client_id=doc["client_id"],
        client_name=doc["client_name"],
        scope=doc["scope"],
        launch_patient=doc.get("launch_patient"),
        ehr_launch=bool(doc.get("ehr_launch")),
        username=doc.get("username"),
        patient=doc.get("patient"),
        auth_time=doc.get("auth_time"),
        failures=int(doc.get("failures", 0)),
    )
