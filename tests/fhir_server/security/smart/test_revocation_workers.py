"""Revocation across worker processes: `serve --workers 2` on one external database. Deleting a user or
disabling a client in one worker must end their tokens in every worker within a second (each worker caches
verified tokens and watches the revocations: fhir_server.security.oauth.token_cache).

Which worker answered a request is read from the kernel, not guessed: the server side of the request's TCP
connection is a socket in exactly one worker's file descriptor table. The test goes on opening connections
until it has seen both workers answer.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pymongo
import pytest

from fhir_server.security.oauth.access_tokens import Grant, mint_access_token
from fhir_server.security.oauth.signing_keys import KeyStore
from fhir_server.security.oauth.urls import Urls
from fhir_server.settings import Settings
from fhir_server.storage.connection import DatabaseConnection, connect
from tests.fhir_server.security.smart.smart_browser import Browser
from tests.fhir_server.security.smart.smart_support import (
    APP_SCOPE,
    PASSWORD,
    REDIRECT,
    SMART,
    code_flow_tokens,
)
from tests.server_process import RunningServer, free_port, start_server

SCOPE = "offline_access user/*.rs"
PROBE_ROUNDS = 10
PROBES_PER_ROUND = 6  # in parallel, so that a busy worker leaves the next connection to the other one
REVOCATION_REACHES_EVERY_WORKER = 1.0  # seconds (README, "Token lifetimes, rotation and revocation")


@dataclass
class Workers:
    running: RunningServer
    connection: DatabaseConnection
    pids: list[int]

    @property
    def urls(self) -> Urls:
        return Urls.for_base(self.running.base_url)

    def admin(self) -> httpx.Client:
        grant = Grant("tester", "admin system/*.cruds", "test", role="admin")
        token, _ = mint_access_token(KeyStore(self.connection.documents), self.urls, grant, 600)
        origin = self.running.base_url.removesuffix("/fhir")
        return httpx.Client(base_url=origin, headers={"Authorization": f"Bearer {token}"}, timeout=30)


@contextmanager
def two_workers(tmp: Path, extra_env: dict[str, str] | None = None) -> Iterator[Workers]:
    """A 2-worker SMART server on its own external database (workers need a URI), stopped afterwards."""
    database, uri = _external_database(tmp / "db")
    try:
        env = {**SMART, "FHIR_MONGODB_URI": uri, "FHIR_LOG_LEVEL": "warning", **(extra_env or {})}
        running = start_server(tmp / "data", "--workers", "2", env=env)
        connection = connect(Settings(data_dir=tmp / "data", mongodb_uri=uri), "cli")
        try:
            pids = _worker_pids(running.process.pid)
            assert len(pids) == 2, pids
            yield Workers(running, connection, pids)
        finally:
            connection.close()
            running.stop()
    finally:
        database.terminate()
        database.wait(timeout=30)


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workers]:
    with two_workers(tmp_path_factory.mktemp("workers")) as running:
        yield running


def _external_database(storage: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "secantusd-py"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--storage-path",
            str(storage),
            "--log-level",
            "WARNING",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    uri = f"mongodb://127.0.0.1:{port}/?retryWrites=false&directConnection=true"
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(uri, serverSelectionTimeoutMS=200)
    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                client.admin.command("ping")
                return process, uri
            except pymongo.errors.PyMongoError:
                assert time.monotonic() < deadline, "external database did not start"
                time.sleep(0.1)
    finally:
        client.close()


def _worker_pids(parent: int) -> list[int]:
    """The uvicorn workers among the server's children (not multiprocessing's resource tracker)."""
    deadline = time.monotonic() + 30
    while True:
        children = [
            int(entry.name)
            for entry in Path("/proc").iterdir()
            if entry.name.isdigit()
            and _parent_of(entry) == parent
            and b"spawn_main" in _read(entry / "cmdline")
        ]
        if len(children) >= 2 or time.monotonic() > deadline:
            return children
        time.sleep(0.1)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def _parent_of(proc: Path) -> int | None:
    try:
        return int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _serving_worker(response: httpx.Response, server_port: int, pids: list[int]) -> int:
    """The worker holding the server side of the (still open) connection `response` came over."""
    client_port = response.extensions["network_stream"].get_extra_info("client_addr")[1]
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1], fields[2]
        if int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) == client_port:
            inode = fields[9]
    assert inode is not None, "the connection's server side was not found"
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd) == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue
    raise AssertionError(f"no worker holds socket {inode}")


def _probe(workers: Workers, token: str) -> tuple[int, int]:
    """(worker pid, status) of one FHIR request with `token` on a new connection."""
    port = int(urlsplit(workers.running.base_url).port or 80)
    with httpx.Client(timeout=30) as client:
        response = client.get(
            f"{workers.running.base_url}/Patient",
            params={"_count": "1"},
            headers={"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"},
        )
        return _serving_worker(response, port, workers.pids), response.status_code


def _statuses_by_worker(workers: Workers, token: str) -> dict[int, set[int]]:
    """Status codes each worker answered for `token`, probing until both workers have answered."""
    seen: dict[int, set[int]] = {}
    with ThreadPoolExecutor(PROBES_PER_ROUND) as pool:
        for _ in range(PROBE_ROUNDS):
            for pid, status in pool.map(lambda _: _probe(workers, token), range(PROBES_PER_ROUND)):
                seen.setdefault(pid, set()).add(status)
            if len(seen) == len(workers.pids):
                break
    assert len(seen) == len(workers.pids), f"only workers {sorted(seen)} answered"
    return seen


def after_a_second(since: float) -> None:
    """Wait until a second has passed since `since` (time.monotonic): what every worker is given."""
    time.sleep(max(0.0, since + REVOCATION_REACHES_EVERY_WORKER - time.monotonic()))


def _register(workers: Workers, username: str, client_id: str) -> None:
    with workers.admin() as admin:
        user = {"username": username, "password": PASSWORD, "role": "clinician"}
        assert admin.post("/auth/admin/users", json=user).status_code == 201
        app = {
            "client_id": client_id,
            "client_name": client_id,
            "kind": "public",
            "scope": APP_SCOPE,
            "redirect_uris": [REDIRECT],
        }
        assert admin.post("/auth/admin/clients", json=app).status_code in (201, 400)  # 400: exists


def _login(workers: Workers, username: str, client_id: str) -> dict[str, Any]:
    browser = Browser(workers.running.base_url.removesuffix("/fhir"))
    try:
        return code_flow_tokens(workers.urls, browser, SCOPE, username, client_id=client_id)
    finally:
        browser.close()


def test_deleting_a_user_ends_their_tokens_in_every_worker(workers: Workers) -> None:
    _register(workers, "leaving-clinician", "workers-app")
    tokens = _login(workers, "leaving-clinician", "workers-app")
    assert _statuses_by_worker(workers, tokens["access_token"]) == {pid: {200} for pid in workers.pids}
    with workers.admin() as admin:
        deleting = time.monotonic()
        assert admin.delete("/auth/admin/users/leaving-clinician").status_code == 204
    after_a_second(deleting)
    assert _statuses_by_worker(workers, tokens["access_token"]) == {pid: {401} for pid in workers.pids}
    refreshed = httpx.post(
        workers.urls.token, data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"


def test_disabling_a_client_ends_its_tokens_in_every_worker(workers: Workers) -> None:
    _register(workers, "staying-clinician", "workers-app")
    tokens = _login(workers, "staying-clinician", "workers-app")
    assert _statuses_by_worker(workers, tokens["access_token"]) == {pid: {200} for pid in workers.pids}
    with workers.admin() as admin:
        disabling = time.monotonic()
        disabled = admin.patch("/auth/admin/clients/workers-app", json={"disabled": True})
        assert disabled.status_code == 200
    after_a_second(disabling)
    assert _statuses_by_worker(workers, tokens["access_token"]) == {pid: {401} for pid in workers.pids}
    refreshed = httpx.post(
        workers.urls.token, data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 401 and refreshed.json()["error"] == "invalid_client"
