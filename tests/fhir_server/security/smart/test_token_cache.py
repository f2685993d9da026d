"""The verified-token cache (fhir_server.security.oauth.token_cache) in one process, over a real database.

A revocation written by another process is simulated by writing the revocation records the way
`Revocations` does, through another connection's collection, so that only the change stream (or the polled
counter) can tell this process's cache about it. Deadlines are polled, never slept.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fhir_server.security.components import AuthComponents, build_auth
from fhir_server.security.enforcement.policy import AccessContext
from fhir_server.security.enforcement.scopes import ScopeSet
from fhir_server.security.oauth.access_tokens import Grant, InvalidToken, TokenVerifier, mint_access_token
from fhir_server.security.oauth.revocation import STATE_ID, Generations, Revocations
from fhir_server.security.oauth.signing_keys import KeyStore
from fhir_server.security.oauth.token_cache import (
    CLOCK_SKEW_SECONDS,
    RevocationWatcher,
    VerifiedTokenCache,
)
from fhir_server.security.oauth.urls import Urls
from fhir_server.settings import Settings
from fhir_server.storage.connection import DatabaseConnection, connect

URLS = Urls.for_base("http://127.0.0.1:8080/fhir")
WITHIN = 1.0  # what the README promises for every worker


@pytest.fixture(scope="module")
def connection(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseConnection]:
    conn = connect(Settings(data_dir=tmp_path_factory.mktemp("token-cache") / "data"), "server")
    try:
        yield conn
    finally:
        conn.close()


def _auth(connection: DatabaseConnection, size: int = 100) -> AuthComponents:
    settings = Settings(data_dir=Path("unused"), token_cache_size=size)
    auth = build_auth(settings, connection, background_audit=False, token_cache=True)
    _until(lambda: auth.token_watcher is not None and auth.token_watcher.mode is not None, 10)
    return auth


@pytest.fixture
def auth(connection: DatabaseConnection) -> Iterator[AuthComponents]:
    components = _auth(connection)
    try:
        yield components
    finally:
        components.close()


def _until(condition: Callable[[], Any], timeout: float) -> float:
    """Seconds from now until the start of the first check of `condition` that held; fails after `timeout`."""
    start = time.monotonic()
    while True:
        checked = time.monotonic()
        if condition():
            return checked - start
        assert checked - start < timeout, "deadline passed"
        time.sleep(0.02)


def _token(
    auth: AuthComponents, subject: str = "alice", client: str = "app", lifetime: int = 600
) -> tuple[str, dict[str, Any]]:
    generations = auth.revocations.current(subject, client)
    grant = Grant(subject, "user/*.rs", client, role="clinician", generations=generations)
    return mint_access_token(auth.keys, URLS, grant, lifetime)


def _refused(verifier: TokenVerifier, token: str) -> bool:
    try:
        verifier.verify(token, URLS)
    except InvalidToken:
        return True
    return False


def _elsewhere(connection: DatabaseConnection) -> Any:
    """`auth_revoked` as another process writes it (no local listener is told)."""
    return connection.documents.collection("auth_revoked")


def _revoke_elsewhere(connection: DatabaseConnection, record: dict[str, Any]) -> None:
    revoked = _elsewhere(connection)
    if "gen" in record:
        revoked.update_one({"_id": record["_id"]}, {"$inc": {"gen": 1}}, upsert=True)
    else:
        revoked.insert_one(record)
    revoked.update_one({"_id": STATE_ID}, {"$inc": {"n": 1}}, upsert=True)


def test_a_verified_token_is_answered_from_the_cache_without_the_database(auth: AuthComponents) -> None:
    token, claims = _token(auth)
    first = auth.verifier.verify(token, URLS)
    assert auth.verifier.cached(token, URLS) is first
    assert auth.verifier.verify(token, URLS) is first
    assert auth.verifier.cached(token, Urls.for_base("http://elsewhere/fhir")) is None
    assert first.token_id == claims["jti"]


@pytest.mark.parametrize("change_streams", [True, False], ids=["change-stream", "poll"])
def test_a_token_revoked_by_another_process_is_refused_within_a_second(
    connection: DatabaseConnection, change_streams: bool
) -> None:
    settings = Settings(data_dir=Path("unused"))
    auth = build_auth(settings, connection, background_audit=False)  # no watcher of its own
    cache = VerifiedTokenCache(100)
    verifier = TokenVerifier(auth.keys, auth.revocations, cache)
    watcher = RevocationWatcher(cache, auth.revocations, auth.keys, change_streams=change_streams)
    watcher.start()
    try:
        _until(lambda: watcher.mode is not None, 10)
        assert watcher.mode == ("change-stream" if change_streams else "poll")
        token, claims = _token(auth, "bob")
        other, _ = _token(auth, "carol")
        verifier.verify(token, URLS)
        verifier.verify(other, URLS)
        assert len(cache) == 2
        expires = datetime.fromtimestamp(claims["exp"], UTC)
        _revoke_elsewhere(connection, {"_id": claims["jti"], "expires": expires})
        assert _until(lambda: _refused(verifier, token), 5) < WITHIN
        assert not _refused(verifier, other)
        # A user deleted or disabled elsewhere: their generation moved.
        _revoke_elsewhere(connection, {"_id": "user:carol", "gen": 1})
        assert _until(lambda: _refused(verifier, other), 5) < WITHIN
    finally:
        watcher.stop()
        auth.close()
    assert not watcher.alive


def test_deleting_a_user_or_client_here_ends_their_cached_tokens_at_once(
    auth: AuthComponents, connection: DatabaseConnection
) -> None:
    users = auth.users
    users.add("dora", "a long enough password 1", "clinician")
    token, _ = _token(auth, "dora", "some-app")
    backend, _ = _token(auth, "erin", "leaving-app")
    auth.verifier.verify(token, URLS)
    auth.verifier.verify(backend, URLS)
    users.remove("dora")
    assert _refused(auth.verifier, token)  # the same process: no wait at all
    Revocations(connection.documents).revoke_all_of("client", "leaving-app")
    assert _refused(auth.verifier, backend)


def test_the_cache_holds_at_most_its_size(connection: DatabaseConnection) -> None:
    auth = _auth(connection, size=5)
    try:
        tokens = [_token(auth, f"user-{i}")[0] for i in range(12)]
        for token in tokens:
            auth.verifier.verify(token, URLS)
        assert auth.verifier.cache is not None and len(auth.verifier.cache) == 5
        assert all(auth.verifier.cached(token, URLS) is not None for token in tokens[-5:])
        assert all(auth.verifier.cached(token, URLS) is None for token in tokens[:-5])
    finally:
        auth.close()


def test_a_cache_of_size_zero_keeps_nothing_and_still_revokes(connection: DatabaseConnection) -> None:
    auth = _auth(connection, size=0)
    try:
        token, claims = _token(auth, "fred")
        auth.verifier.verify(token, URLS)
        assert auth.verifier.cached(token, URLS) is None
        assert auth.verifier.cache is not None and len(auth.verifier.cache) == 0
        _revoke_elsewhere(
            connection, {"_id": claims["jti"], "expires": datetime.now(UTC) + timedelta(hours=1)}
        )
        assert _refused(auth.verifier, token)
    finally:
        auth.close()


def test_a_cached_token_still_expires_at_its_exp(auth: AuthComponents) -> None:
    # Accepted for about two more seconds (exp plus the clock skew allowance every verification grants).
    token, _ = _token(auth, "gina", lifetime=2 - CLOCK_SKEW_SECONDS)
    auth.verifier.verify(token, URLS)
    assert auth.verifier.cached(token, URLS) is not None
    _until(lambda: _refused(auth.verifier, token), 10)
    assert auth.verifier.cached(token, URLS) is None


def test_expiry_by_the_clock_alone() -> None:
    now = [1000.0]
    cache = VerifiedTokenCache(10, clock=lambda: now[0])
    cache.watched_since(time.monotonic())
    access = AccessContext("s", ScopeSet.parse(""), URLS.fhir_base, token_id="j", expires_at=1010)
    cache.put("t", cache.ticket(), access, None)
    now[0] = 1010 + CLOCK_SKEW_SECONDS
    assert cache.get("t", URLS.fhir_base) is access
    now[0] += 1
    assert cache.get("t", URLS.fhir_base) is None and len(cache) == 0


def test_a_verification_that_raced_a_revocation_is_not_kept() -> None:
    cache = VerifiedTokenCache(10)
    cache.watched_since(time.monotonic())
    access = AccessContext("s", ScopeSet.parse(""), URLS.fhir_base, token_id="j", expires_at=2**40)
    ticket = cache.ticket()
    cache.drop(lambda entry: False)  # any change while the token was read from the database
    cache.put("t", ticket, access, None)
    assert len(cache) == 0


def test_an_unwatched_cache_is_bypassed() -> None:
    cache = VerifiedTokenCache(10)
    access = AccessContext("s", ScopeSet.parse(""), URLS.fhir_base, token_id="j", expires_at=2**40)
    assert cache.ticket() is None  # no watcher yet: nothing is kept
    cache.put("t", cache.ticket(), access, None)
    assert len(cache) == 0
    cache.watched_since(time.monotonic())
    cache.put("t", cache.ticket(), access, None)
    assert cache.get("t", URLS.fhir_base) is access
    cache.watched_since(time.monotonic() - 5)  # a watcher that stalled: its changes may be missing
    assert not cache.current and cache.ticket() is None
    assert cache.get("t", URLS.fhir_base) is None


def test_a_failing_watcher_fails_safe_and_recovers(
    auth: AuthComponents, connection: DatabaseConnection, caplog: pytest.LogCaptureFixture
) -> None:
    token, _ = _token(auth, "hank")
    auth.verifier.verify(token, URLS)
    assert auth.verifier.cached(token, URLS) is not None
    cache, watcher = auth.verifier.cache, auth.token_watcher
    assert cache is not None and watcher is not None
    with caplog.at_level(logging.WARNING, "fhir_server.security.oauth.token_cache"):
        connection.db.drop_collection("auth_revoked")  # ends the change stream: the watcher must reopen
        _until(lambda: not cache.current, 5)
        assert auth.verifier.cached(token, URLS) is None and len(cache) == 0
        assert not _refused(auth.verifier, token)  # verified the slow way meanwhile
        assert "token cache watcher failed" in caplog.text
    _until(lambda: cache.current and watcher.mode == "change-stream", 10)
    auth.verifier.verify(token, URLS)
    assert auth.verifier.cached(token, URLS) is not None


def test_the_watcher_stops_with_the_components(connection: DatabaseConnection) -> None:
    auth = _auth(connection)
    watcher = auth.token_watcher
    assert watcher is not None and watcher.alive
    auth.close()
    assert not watcher.alive
    assert auth.verifier.cache is not None and not auth.verifier.cache.current


def test_key_rotation_elsewhere_reaches_signing_within_a_second_and_deleted_keys_stop_verifying(
    auth: AuthComponents, connection: DatabaseConnection
) -> None:
    old_token, _ = _token(auth, "ivan")
    old_kid = auth.keys.signing_key().kid
    auth.verifier.verify(old_token, URLS)
    new_kid = KeyStore(connection.documents).rotate()  # as `fhir-server keys rotate` does
    assert _until(lambda: auth.keys.signing_key().kid == new_kid, 5) < WITHIN
    # Documented: a retired key keeps verifying the tokens it signed until they expire.
    assert not _refused(auth.verifier, old_token)
    assert auth.verifier.cached(old_token, URLS) is not None
    # A key removed from the database (say, a compromised one) stops verifying everywhere.
    connection.documents.collection("auth_keys").delete_one({"_id": old_kid})
    assert _until(lambda: _refused(auth.verifier, old_token), 5) < WITHIN
    assert not _refused(auth.verifier, _token(auth, "ivan")[0])


def test_generations_of_tokens_minted_after_a_revocation_are_accepted(auth: AuthComponents) -> None:
    auth.revocations.revoke_all_of("user", "judy")
    token, claims = _token(auth, "judy")
    assert Generations.from_claims(claims).user >= 1
    assert not _refused(auth.verifier, token)
    assert auth.verifier.cached(token, URLS) is not None
