"""The server's token-signing keys, kept in the database (collection `auth_keys`) so that every process on
the data dir — the server, its workers, `fhir-server token` — signs and verifies with the same keys.

The first process that needs a key generates one (RSA 2048, RS256: what OpenID Connect requires for
id_tokens, App Launch 2.2 §sso-openid-connect). `rotate()` adds a new signing key and retires the others;
retired keys stay published in the JWKS and accepted until every token they signed has expired.
Two processes generating a first key at once is harmless: both keys verify, the newer one signs.
A server's workers hear of a rotation (or of a key deleted from `auth_keys`) through their token-cache
watcher (token_cache.py), which makes them `forget` their keys: within a second they sign with the new key.
Other processes re-read the signing key every 10 s.

The private keys are stored in the database: whoever can read the database can mint tokens, so an external
MongoDB must be protected like the keys themselves.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from joserfc.jwk import KeySet, RSAKey

from fhir_server.security.oauth.revocation import Revocations
from fhir_server.storage.documents import ChangeFeed, Documents

SIGNING_ALGORITHM = "RS256"
# Longest lifetime of anything we sign (CLI tokens may live up to a day); retired keys outlive it.
MAX_SIGNED_LIFETIME = timedelta(hours=24)
_SIGNING_KEY_RECHECK_SECONDS = 10.0
_RELOAD_AT_MOST_EVERY_SECONDS = 1.0


@dataclass(frozen=True)
class SigningKey:
    kid: str
    key: RSAKey


class KeyStore:
    def __init__(self, documents: Documents) -> None:
        self._keys = documents.collection("auth_keys")
        self._revocations = Revocations(documents)
        self._lock = threading.Lock()
        self._signing: SigningKey | None = None
        self._signing_checked = 0.0
        self._verification: KeySet | None = None
        self._verification_loaded = 0.0

    def signing_key(self) -> SigningKey:
        with self._lock:
            now = time.monotonic()
            if self._signing is None or now - self._signing_checked > _SIGNING_KEY_RECHECK_SECONDS:
                self._signing = self._newest_active() or self._generate()
                self._signing_checked = now
            return self._signing

    def verification_keys(self, kid: str | None = None) -> KeySet:
        """The public keys that verify our tokens; reloaded when `kid` is unknown (a key another process
        generated or rotated in), at most once a second."""
        with self._lock:
            now = time.monotonic()
            stale = self._verification is None or now - self._verification_loaded > 60
            unknown = (
                kid is not None and self._verification is not None and not _has_kid(self._verification, kid)
            )
            if stale or (unknown and now - self._verification_loaded > _RELOAD_AT_MOST_EVERY_SECONDS):
                self._verification = KeySet([RSAKey.import_key(d["public"]) for d in self._valid_docs()])
                self._verification_loaded = now
            assert self._verification is not None
            return self._verification

    def public_jwks(self) -> dict[str, Any]:
        return {"keys": [dict(doc["public"]) for doc in self._valid_docs()]}

    def rotate(self) -> str:
        """A new signing key; the previous ones are retired (still verifying until their tokens expire)."""
        with self._lock:
            new = self._generate()
            self._keys.update_many(
                {"_id": {"$ne": new.kid}, "retired": None}, {"$set": {"retired": datetime.now(UTC)}}
            )
            self._keys.delete_many({"retired": {"$lt": datetime.now(UTC) - MAX_SIGNED_LIFETIME}})
            self._signing, self._signing_checked, self._verification = new, time.monotonic(), None
        self._revocations.changed()  # other workers re-read their keys (token_cache.py)
        return new.kid

    def forget(self) -> None:
        """Re-read the signing and verification keys on their next use (another process changed them)."""
        with self._lock:
            self._signing, self._verification = None, None

    def watch(self, wait_seconds: float) -> ChangeFeed:
        """The changes of the key records (by kid) from now on (raises ChangeStreamsUnsupported)."""
        return self._keys.watch_changes(wait_seconds=wait_seconds)

    def describe(self) -> list[dict[str, Any]]:
        return [
            {"kid": d["_id"], "created": d["created"], "retired": d.get("retired")}
            for d in self._keys.find({}, {"private": 0}, sort=[("created", -1)])
        ]

    def _newest_active(self) -> SigningKey | None:
        doc = self._keys.find_one({"retired": None}, sort=[("created", -1)])
        if doc is None:
            return None
        return SigningKey(doc["_id"], RSAKey.import_key(doc["private"]))

    def _generate(self) -> SigningKey:
        key = RSAKey.generate_key(2048, parameters={"alg": SIGNING_ALGORITHM, "use": "sig"})
        kid = key.thumbprint()
        private = key.as_dict(private=True, kid=kid)
        public = key.as_dict(private=False, kid=kid)
        self._keys.insert_one(
            {"_id": kid, "private": private, "public": public, "created": datetime.now(UTC), "retired": None}
        )
        return SigningKey(kid, RSAKey.import_key(private))

    def _valid_docs(self) -> list[dict[str, Any]]:
        horizon = datetime.now(UTC) - MAX_SIGNED_LIFETIME
        return list(
            self._keys.find(
                {"$or": [{"retired": None}, {"retired": {"$gte": horizon}}]},
                {"private": 0},
                sort=[("created", -1)],
            )
        )


def _has_kid(keys: KeySet, kid: str) -> bool:
    return any(k.kid == kid for k in keys.keys)
