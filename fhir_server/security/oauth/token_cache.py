"""Verified access tokens, kept per worker: an authenticated request does no database work for its token.

A token is verified once the slow way (signature, claims, audience, and the revocation lookup of
revocation.py); its `AccessContext` is then kept in a bounded LRU (FHIR_TOKEN_CACHE_SIZE, 0 turns the cache
off, the watcher below still runs for the keys) until the token expires, by the same rule as an uncached
one (`exp` plus the clock skew allowance).

Revocation stays exact and reaches every worker within a second, because each worker runs a
`RevocationWatcher` thread that follows the database's change streams on `auth_revoked` and `auth_keys`:

- a revoked jti (RFC 7009) drops that token; a new generation of a user or client (deleted, disabled) drops
  every cached token of it; the revocation counter record is ignored (the change itself comes as its event);
- a signing key deleted from `auth_keys` drops the tokens it signed; any key change (a rotation) makes the
  worker re-read its keys, so it signs with the new key at once (retired keys keep verifying, as before);
- a database without change streams (a standalone MongoDB) is polled instead: the revocation counter
  (`Revocations.state`) is re-read every 500 ms and the whole cache dropped when it moved.

A revocation written by this process reaches its cache before the revoking call returns (revocation.py
`listen_locally`), so a worker that revoked a token never answers it again; the others within a second.

Failing safe: the cache answers only while the watcher is known to be current, i.e. it has seen every change
committed up to `_MAX_LAG_SECONDS` ago. A watcher that fails, stalls or stops leaves the cache empty and
bypassed (every token is verified against the database, and the failure is logged) until it has reopened its
streams. A token verified while a change arrived is not kept (`ticket`/`put`: the change may concern it).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from fhir_server.security.enforcement.policy import AccessContext
from fhir_server.security.oauth.revocation import (
    Revocations,
    is_revoked_jti,
    listen_locally,
    revoked_subject,
)
from fhir_server.security.oauth.signing_keys import KeyStore
from fhir_server.storage.documents import Change, ChangeFeed, ChangeStreamsUnsupported
from fhir_server.storage.errors import StorageError

log = logging.getLogger(__name__)

CLOCK_SKEW_SECONDS = 30
# The cache answers only while the watcher has applied every change committed this long ago: revocations
# reach every worker within a second.
_MAX_LAG_SECONDS = 0.9
_WAIT_SECONDS = 0.15  # one change-stream getMore waits this long for a change
_POLL_SECONDS = 0.5  # without change streams: how often the revocation counter is re-read
_RETRY_SECONDS = 1.0  # after a failure, before reopening the streams


def has_expired(exp: int, now: float) -> bool:
    return exp + CLOCK_SKEW_SECONDS < now


@dataclass(frozen=True)
class _Entry:
    access: AccessContext
    expires: int
    kid: str | None  # the signing key's


class VerifiedTokenCache:
    """The LRU of verified tokens; thread-safe. Empty and bypassed until a watcher calls `watched_since`."""

    def __init__(self, capacity: int, clock: Callable[[], float] = time.time) -> None:
        self.capacity = capacity
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._epoch = 0  # moves with every invalidation: a verification that saw it move is not kept
        self._watched_since: float | None = None  # monotonic; every change committed before it is applied

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    @property
    def current(self) -> bool:
        """Whether the cache answers now (its watcher is current)."""
        with self._lock:
            return self._current()

    def get(self, token: str, base_url: str) -> AccessContext | None:
        with self._lock:
            if not self._current():
                return None
            entry = self._entries.get(token)
            if entry is None or entry.access.base_url != base_url:
                return None
            if has_expired(entry.expires, self._clock()):
                del self._entries[token]
                return None
            self._entries.move_to_end(token)
            return entry.access

    def ticket(self) -> int | None:
        """Taken before a token is verified against the database; None when the result must not be kept."""
        with self._lock:
            return self._epoch if self._current() else None

    def put(self, token: str, ticket: int | None, access: AccessContext, kid: str | None) -> None:
        """Keep a verified token, unless a change arrived since `ticket` was taken (it may revoke it)."""
        if access.expires_at is None or self.capacity == 0:
            return
        with self._lock:
            if ticket is None or ticket != self._epoch:
                return
            self._entries[token] = _Entry(access, access.expires_at, kid)
            self._entries.move_to_end(token)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    # The watcher's side.

    def watched_since(self, moment: float) -> None:
        """Every change committed before `moment` (time.monotonic) has been applied."""
        with self._lock:
            self._watched_since = moment

    def suspend(self) -> None:
        """The watcher lost track: nothing is kept or answered until it calls `watched_since` again."""
        with self._lock:
            self._epoch += 1
            self._watched_since = None
            self._entries.clear()

    def clear(self) -> None:
        with self._lock:
            self._epoch += 1
            self._entries.clear()

    def drop(self, revoked: Callable[[_Entry], bool]) -> int:
        with self._lock:
            self._epoch += 1
            gone = [token for token, entry in self._entries.items() if revoked(entry)]
            for token in gone:
                del self._entries[token]
            return len(gone)

    def _current(self) -> bool:
        since = self._watched_since
        return since is not None and time.monotonic() - since <= _MAX_LAG_SECONDS


class _FeedEnded(StorageError):
    """A change stream ended (its collection was dropped or renamed): the cache is dropped and it reopens."""


class RevocationWatcher:
    """The thread keeping one worker's `VerifiedTokenCache` exact (see the module docstring)."""

    def __init__(
        self,
        cache: VerifiedTokenCache,
        revocations: Revocations,
        keys: KeyStore,
        *,
        change_streams: bool = True,
    ) -> None:
        self._cache = cache
        self._revocations = revocations
        self._keys = keys
        self._change_streams = change_streams  # False: poll the revocation counter (also after a refusal)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="token-cache-watcher", daemon=True)
        self.mode: str | None = None  # "change-stream" or "poll" while current
        self._stop_listening: Callable[[], None] = lambda: None

    def start(self) -> None:
        self._stop_listening = listen_locally(
            lambda record_id: self._revocation_changed(Change("update", record_id))
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop_listening()
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._cache.suspend()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                if self._change_streams:
                    self._follow_changes()
                else:
                    self._poll()
            except ChangeStreamsUnsupported as exc:
                log.warning(
                    "token cache: the database serves no change streams (%s); re-reading the revocation "
                    "counter every %.1f s instead",
                    exc,
                    _POLL_SECONDS,
                )
                self._change_streams = False
            except Exception:
                self.mode = None
                self._cache.suspend()
                log.exception(
                    "token cache watcher failed: every token is verified against the database until it "
                    "recovers (retrying in %.1f s)",
                    _RETRY_SECONDS,
                )
                self._stopping.wait(_RETRY_SECONDS)
        self.mode = None
        self._cache.suspend()

    def _follow_changes(self) -> None:
        opened = time.monotonic()
        revoked = self._revocations.watch(_WAIT_SECONDS)
        try:
            keys = self._keys.watch(_WAIT_SECONDS)
        except BaseException:
            _close(revoked)
            raise
        try:
            # From here on every change reaches us; what was verified before may predate one we never see.
            self._cache.clear()
            self._keys.forget()
            self._cache.watched_since(opened)
            self.mode = "change-stream"
            while not self._stopping.is_set():
                started = time.monotonic()
                self._drain(revoked, self._revocation_changed)
                self._drain(keys, self._key_changed)
                self._cache.watched_since(started)
        finally:
            self._cache.suspend()
            _close(revoked)
            _close(keys)

    def _drain(self, feed: ChangeFeed, apply: Callable[[Change], None]) -> None:
        """Apply changes until the feed has waited `_WAIT_SECONDS` without one."""
        while (change := feed.next_change()) is not None:
            apply(change)

    def _revocation_changed(self, change: Change) -> None:
        if change.operation == "delete":
            return  # a revoked jti's record expired with its token (TTL index): nothing to drop
        if change.operation not in ("insert", "update", "replace"):
            raise _FeedEnded(f"auth_revoked change stream: {change.operation}")
        key = change.key
        if is_revoked_jti(key):
            self._cache.drop(lambda entry: entry.access.token_id == key)
            return
        subject = revoked_subject(key)
        if subject is None:
            return  # the revocation counter
        kind, name = subject
        if kind == "user":
            self._cache.drop(lambda entry: entry.access.subject == name)
        else:
            self._cache.drop(lambda entry: entry.access.client_id == name)

    def _key_changed(self, change: Change) -> None:
        self._keys.forget()  # a rotation: sign with the new key from the next token on
        if change.operation == "delete":
            self._cache.drop(lambda entry: entry.kid == change.key)
        elif change.operation not in ("insert", "update", "replace"):
            raise _FeedEnded(f"auth_keys change stream: {change.operation}")

    def _poll(self) -> None:
        started = time.monotonic()
        last = self._revocations.state()
        self._cache.clear()
        self._keys.forget()
        self._cache.watched_since(started)
        self.mode = "poll"
        try:
            while not self._stopping.wait(max(0.0, _POLL_SECONDS - (time.monotonic() - started))):
                started = time.monotonic()
                state = self._revocations.state()
                if state != last:
                    self._cache.clear()
                    self._keys.forget()
                    last = state
                self._cache.watched_since(started)
        finally:
            self._cache.suspend()


def _close(feed: ChangeFeed) -> None:
    with contextlib.suppress(StorageError):
        feed.close()
