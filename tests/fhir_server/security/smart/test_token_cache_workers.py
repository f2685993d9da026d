"""The verified-token cache across worker processes (`serve --workers 2`, one external database): a revoked
token, a deleted user or client, a rotated or deleted signing key reach every worker within a second — with
the cache (the default) and without it (FHIR_TOKEN_CACHE_SIZE=0), with the same results.

Each check first makes both workers answer the token (so both have it cached), then changes something
through one of them (or through the database, as a CLI command would), waits one second and requires every
worker's answer to have changed. Which worker answered is read from the kernel (test_revocation_workers).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import pytest

from fhir_server.security.oauth.signing_keys import KeyStore
from tests.fhir_server.security.smart.test_revocation_workers import (
    PROBE_ROUNDS,
    Workers,
    _login,
    _register,
    _serving_worker,
    _statuses_by_worker,
    after_a_second,
    two_workers,
)


@pytest.fixture(scope="module", params=["10000", "0"], ids=["cached", "uncached"])
def cache_workers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Workers]:
    with two_workers(
        tmp_path_factory.mktemp("cache-workers"), {"FHIR_TOKEN_CACHE_SIZE": request.param}
    ) as running:
        yield running


def _everywhere(workers: Workers, token: str, status: int) -> None:
    assert _statuses_by_worker(workers, token) == {pid: {status} for pid in workers.pids}


def _kid(token: str) -> str:
    header = token.split(".", 1)[0]
    kid: str = orjson.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]
    return kid


def test_a_token_revoked_with_rfc7009_is_refused_by_every_worker_within_a_second(
    cache_workers: Workers,
) -> None:
    _register(cache_workers, "revoking-clinician", "cache-app")
    tokens = _login(cache_workers, "revoking-clinician", "cache-app")
    kept = _login(cache_workers, "revoking-clinician", "cache-app")
    _everywhere(cache_workers, tokens["access_token"], 200)
    _everywhere(cache_workers, kept["access_token"], 200)
    revoking = time.monotonic()
    revoked = httpx.post(
        cache_workers.urls.revoke,
        data={"token": tokens["access_token"], "client_id": "cache-app"},
        timeout=30,
    )
    assert revoked.status_code == 200, revoked.text
    after_a_second(revoking)
    _everywhere(cache_workers, tokens["access_token"], 401)
    _everywhere(cache_workers, kept["access_token"], 200)  # exactly that token


def test_deleting_a_user_or_a_client_ends_their_tokens_in_every_worker_within_a_second(
    cache_workers: Workers,
) -> None:
    _register(cache_workers, "deleted-clinician", "cache-app")
    _register(cache_workers, "other-clinician", "deleted-app")
    of_user = _login(cache_workers, "deleted-clinician", "cache-app")["access_token"]
    of_client = _login(cache_workers, "other-clinician", "deleted-app")["access_token"]
    of_neither = _login(cache_workers, "other-clinician", "cache-app")["access_token"]
    for token in (of_user, of_client, of_neither):
        _everywhere(cache_workers, token, 200)
    with cache_workers.admin() as admin:
        deleting = time.monotonic()
        assert admin.delete("/auth/admin/users/deleted-clinician").status_code == 204
        assert admin.delete("/auth/admin/clients/deleted-app").status_code == 204
    after_a_second(deleting)
    _everywhere(cache_workers, of_user, 401)
    _everywhere(cache_workers, of_client, 401)
    _everywhere(cache_workers, of_neither, 200)


def _refresh(workers: Workers, refresh_token: str) -> tuple[int, dict[str, Any]]:
    port = int(urlsplit(workers.running.base_url).port or 80)
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": "cache-app"}
    with httpx.Client(timeout=30) as client:
        response = client.post(workers.urls.token, data=form)
        assert response.status_code == 200, response.text
        return _serving_worker(response, port, workers.pids), response.json()


def test_key_rotation_reaches_every_worker_within_a_second(cache_workers: Workers) -> None:
    _register(cache_workers, "rotating-clinician", "cache-app")
    logins = [_login(cache_workers, "rotating-clinician", "cache-app") for _ in range(4)]
    old = logins[0]["access_token"]
    _everywhere(cache_workers, old, 200)
    rotating = time.monotonic()
    new_kid = KeyStore(cache_workers.connection.documents).rotate()  # what `fhir-server keys rotate` does
    assert _kid(old) != new_kid
    after_a_second(rotating)
    # Every worker signs with the new key ...
    refresh_tokens = [login["refresh_token"] for login in logins[1:]]  # `old`'s grant stays as it is
    signed_by: dict[int, set[str]] = {}
    with ThreadPoolExecutor(len(refresh_tokens)) as pool:
        for _ in range(PROBE_ROUNDS):
            answers = list(pool.map(lambda token: _refresh(cache_workers, token), refresh_tokens))
            refresh_tokens = [answer["refresh_token"] for _, answer in answers]
            for pid, answer in answers:
                signed_by.setdefault(pid, set()).add(_kid(answer["access_token"]))
            if len(signed_by) == len(cache_workers.pids):
                break
    assert signed_by == {pid: {new_kid} for pid in cache_workers.pids}
    # ... and still accepts what the retired key signed (until it expires), as documented.
    _everywhere(cache_workers, old, 200)
    # A key removed from the database (a compromised one) stops verifying in every worker.
    deleting = time.monotonic()
    assert cache_workers.connection.documents.collection("auth_keys").delete_one({"_id": _kid(old)}) == 1
    after_a_second(deleting)
    _everywhere(cache_workers, old, 401)
