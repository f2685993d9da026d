"""Public keys of confidential-asymmetric clients: the registered JWKS, or the one behind the registered JWKS
URL (App Launch 2.2 §client-confidential-asymmetric: "the EHR SHALL ... retrieve the JWKS from the
registered jwks_uri"), fetched with a short cache and re-fetched when an unknown `kid` shows up."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import Key, KeySet, KeySetSerialization

from fhir_server.security.accounts.clients import Client

_CACHE_SECONDS = 300.0
_REFETCH_AT_MOST_EVERY_SECONDS = 5.0
_MAX_JWKS_BYTES = 256 * 1024


class ClientKeyError(Exception):
    """No usable key for the assertion; the message says why."""


class ClientKeys:
    def __init__(self, timeout_seconds: float = 5.0) -> None:
        self._timeout = timeout_seconds
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, KeySet]] = {}

    def key_for(self, client: Client, kid: str, jku: str | None) -> Key:
        if jku is not None and jku != client.jwks_url:
            raise ClientKeyError("jku does not match the client's registered JWKS URL")
        if client.jwks:
            return _pick(KeySet.import_key_set(client.jwks), kid)
        if not client.jwks_url:
            raise ClientKeyError("the client has no registered keys")
        key = _find(self._fetch(client.jwks_url, refresh=False), kid)
        if key is None:
            key = _find(self._fetch(client.jwks_url, refresh=True), kid)
        if key is None:
            raise ClientKeyError(f"no key with kid {kid!r} in the client's JWKS")
        return key

    def _fetch(self, url: str, *, refresh: bool) -> KeySet:
        with self._lock:
            cached = self._cache.get(url)
            if cached is not None:
                age = time.monotonic() - cached[0]
                if age < (_REFETCH_AT_MOST_EVERY_SECONDS if refresh else _CACHE_SECONDS):
                    return cached[1]
        try:
            response = httpx.get(url, timeout=self._timeout, follow_redirects=False)
            if response.status_code != 200 or len(response.content) > _MAX_JWKS_BYTES:
                raise ClientKeyError(f"the client's JWKS URL answered {response.status_code}")
            keys = KeySet.import_key_set(_jwks(response.json()))
        except (httpx.HTTPError, ValueError, JoseError, KeyError, TypeError) as exc:
            raise ClientKeyError(f"the client's JWKS could not be fetched: {exc}") from None
        with self._lock:
            self._cache[url] = (time.monotonic(), keys)
        return keys


def _jwks(data: Any) -> KeySetSerialization:
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise ValueError("not a JWKS")
    return {"keys": data["keys"]}  # a key set is read from "keys" only


def _find(keys: KeySet, kid: str) -> Key | None:
    return next((k for k in keys.keys if k.kid == kid), None)


def _pick(keys: KeySet, kid: str) -> Key:
    key = _find(keys, kid)
    if key is None:
        raise ClientKeyError(f"no key with kid {kid!r} among the client's registered keys")
    return key
