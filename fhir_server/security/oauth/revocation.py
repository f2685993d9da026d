"""Revoked access tokens: single tokens (RFC 7009) and everything of a deleted or disabled user or client.

One collection, `auth_revoked`, holds two kinds of record:

- `{_id: <jti>, expires}`: one revoked token, kept until it would have expired anyway (TTL index);
- `{_id: "user:<name>" | "client:<client_id>", gen: N}`: the revocation generation of a user or client.
  Deleting or disabling one increments its generation. Every token carries the generations of its user and
  client as they were when it was minted (`sub_gen`, `client_gen`; absent means 0), and a token whose
  generation is below the current one is revoked. These records never expire: were one dropped, its
  counter would restart at 0 and tokens minted at a higher generation would outlive the next revocation.

Why generations rather than lists of tokens or "revoked before <time>": they need no record of what was
issued, they are exact across workers and hosts (no clocks are compared), and re-creating a deleted user
or re-enabling a client does not bring its old tokens back. Verifying a token costs one lookup by `_id`
($in over its jti and its two generation records), the same single indexed read as before.

Minting reads the generations first and checks that the user and client are still active afterwards;
deactivation increments, deactivates, and increments again (Revocations.revoke_all_of).

A third record, `{_id: "state:revocations", n}`, counts every revocation and signing-key rotation (bumped
after the change itself). Workers that cache verified tokens (token_cache.py) watch this collection's change
stream and drop exactly the tokens a record revokes; a database without change streams (a standalone
MongoDB) makes them re-read this counter instead, and drop everything when it moved. Within the revoking
process, its caches hear of a revocation before the revoking call returns (`listen_locally`).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from fhir_server.storage.documents import ChangeFeed, Documents
from fhir_server.storage.errors import DuplicateKey

SubjectKind = Literal["user", "client"]
T = TypeVar("T")
STATE_ID = "state:revocations"
SUB_GEN_CLAIM = "sub_gen"
CLIENT_GEN_CLAIM = "client_gen"


@dataclass(frozen=True)
class Generations:
    """The revocation generations of a token's user (its `sub`) and client when it was minted."""

    user: int = 0
    client: int = 0

    def claims(self) -> dict[str, int]:
        return {SUB_GEN_CLAIM: self.user, CLIENT_GEN_CLAIM: self.client}

    def to_doc(self) -> dict[str, int]:
        return {"user": self.user, "client": self.client}

    @classmethod
    def from_doc(cls, doc: Any) -> Generations:
        """From a stored record; records written before generations existed count as generation 0."""
        if not isinstance(doc, dict):
            return cls()
        return cls(_int(doc.get("user")), _int(doc.get("client")))

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> Generations:
        return cls(_int(claims.get(SUB_GEN_CLAIM)), _int(claims.get(CLIENT_GEN_CLAIM)))

    def outdated_by(self, current: Generations) -> bool:
        return self.user < current.user or self.client < current.client


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _key(kind: SubjectKind, name: str) -> str:
    # A jti (token_urlsafe) never contains ':', so these ids cannot collide with a revoked token's.
    return f"{kind}:{name}"


# This process's listeners (its token caches), told of every record written here before the write returns.
_local_listeners: list[Callable[[str], None]] = []
_listeners_lock = threading.Lock()


def listen_locally(listener: Callable[[str], None]) -> Callable[[], None]:
    """Call `listener(record_id)` after every revocation record this process writes (a jti, `user:…`,
    `client:…`, or the counter for a key rotation); returns what stops it."""
    with _listeners_lock:
        _local_listeners.append(listener)

    def stop() -> None:
        with _listeners_lock, contextlib.suppress(ValueError):
            _local_listeners.remove(listener)

    return stop


def _tell_local_listeners(record_id: str) -> None:
    with _listeners_lock:
        listeners = list(_local_listeners)
    for listener in listeners:
        listener(record_id)


def revoked_subject(record_id: Any) -> tuple[SubjectKind, str] | None:
    """The user or client whose generation record this is, or None (a revoked jti, the state counter)."""
    kind, sep, name = str(record_id).partition(":")
    if sep and kind in ("user", "client"):
        return ("user" if kind == "user" else "client"), name
    return None


def is_revoked_jti(record_id: Any) -> bool:
    return isinstance(record_id, str) and ":" not in record_id


def _generation_keys(subject: str, client_id: str | None) -> list[str]:
    return [_key("user", subject), *([_key("client", client_id)] if client_id else [])]


def _generations(found: dict[str, dict[str, Any]], subject: str, client_id: str | None) -> Generations:
    """The generations in the records `Revocations._find` returned for these `_generation_keys`."""
    return Generations(
        _int(found.get(_key("user", subject), {}).get("gen")),
        _int(found.get(_key("client", client_id), {}).get("gen")) if client_id else 0,
    )


class Revocations:
    def __init__(self, documents: Documents) -> None:
        self._revoked = documents.collection("auth_revoked")

    def revoke(self, jti: str, exp: int) -> None:
        with contextlib.suppress(DuplicateKey):  # revoking twice is fine
            self._revoked.insert_one({"_id": jti, "expires": datetime.fromtimestamp(exp, UTC)})
        _tell_local_listeners(jti)
        self.changed()

    def changed(self) -> None:
        """Count a revocation or key rotation (after it is written): what token caches without a change
        stream poll."""
        self._revoked.update_one({"_id": STATE_ID}, {"$inc": {"n": 1}}, upsert=True)
        _tell_local_listeners(STATE_ID)

    def state(self) -> int:
        """The revocation counter (`changed`)."""
        doc = self._revoked.find_one({"_id": STATE_ID}, {"n": 1})
        return _int(doc.get("n")) if doc else 0

    def watch(self, wait_seconds: float) -> ChangeFeed:
        """The changes of the revocation records from now on (raises ChangeStreamsUnsupported)."""
        return self._revoked.watch_changes(wait_seconds=wait_seconds)

    def revoke_all_of(self, kind: SubjectKind, name: str) -> None:
        """Every token of this user or client minted until now is revoked.

        Deleting or disabling calls it twice, before and after deactivating the account. After: a token
        minted concurrently either read the generations before this increment (so it is stale now) or read
        them after, and then its minting's activity check, which comes after that read, sees the account
        deactivated. Before: should the process die between the steps, the existing tokens are revoked all
        the same."""
        self._revoked.update_one({"_id": _key(kind, name)}, {"$inc": {"gen": 1}}, upsert=True)
        _tell_local_listeners(_key(kind, name))
        self.changed()

    def deactivating(self, kind: SubjectKind, name: str, change: Callable[[], T]) -> T:
        """`change` (deleting or disabling the user or client), with every token of theirs revoked before and
        after it, as revoke_all_of explains."""
        self.revoke_all_of(kind, name)
        result = change()
        self.revoke_all_of(kind, name)
        return result

    def current(self, subject: str, client_id: str | None) -> Generations:
        """The generations a token minted now carries (read BEFORE checking that both are active)."""
        return _generations(self._find(_generation_keys(subject, client_id)), subject, client_id)

    def token_revoked(self, claims: dict[str, Any]) -> bool:
        """Whether a signed token's claims are revoked: by its jti, or by a newer generation of its user or
        client. One query by `_id`, so that every authenticated request costs a single indexed lookup."""
        jti = claims.get("jti")
        if not isinstance(jti, str):
            return True
        subject = str(claims.get("sub"))
        client_id = claims.get("client_id") if isinstance(claims.get("client_id"), str) else None
        found = self._find([jti, *_generation_keys(subject, client_id)])
        if jti in found:
            return True
        return Generations.from_claims(claims).outdated_by(_generations(found, subject, client_id))

    def outdated(self, generations: Generations, subject: str, client_id: str | None) -> bool:
        """Whether a stored grant (authorization code, refresh token) predates a revocation of its user or
        client."""
        return generations.outdated_by(self.current(subject, client_id))

    def _find(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        return {doc["_id"]: doc for doc in self._revoked.find({"_id": {"$in": keys}}, {"gen": 1})}
