"""Several uvicorn workers against one external MongoDB-compatible database (the deploy's shape).

The external database here is a SecantusDB process the test starts itself, reached only through
FHIR_MONGODB_URI, exactly as the server would reach a MongoDB replica set.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pymongo
import pytest

from tests.server_process import REPO_ROOT, free_port


@pytest.fixture
def external_db(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "secantusd-py"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--storage-path",
            str(tmp_path / "db"),
            "--log-level",
            "WARNING",
            "--sync-on-commit",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    uri = f"mongodb://127.0.0.1:{port}/?retryWrites=false&directConnection=true"
    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(uri, serverSelectionTimeoutMS=200)
    deadline = time.monotonic() + 30
    while True:
        try:
            client.admin.command("ping")
            break
        except pymongo.errors.PyMongoError:
            assert time.monotonic() < deadline, "external database did not start"
            time.sleep(0.1)
    client.close()
    yield uri
    process.terminate()
    process.wait(timeout=30)


def _children(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                children.append(int(entry.name))
    return children


def test_two_workers_share_one_database(external_db: str, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "FHIR_MONGODB_URI": external_db,
        "FHIR_AUTH_MODE": "development",
        "FHIR_LOG_LEVEL": "warning",
    }
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fhir_server",
            "serve",
            "--workers",
            "2",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path / "data"),
            "--demo",  # loaded once, by the parent, before the workers start
            "--no-local-orthanc",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=REPO_ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()[-2000:]
            try:
                if httpx.get(f"{base}/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "server.log").read_text()[-2000:]
            time.sleep(0.2)
        workers = [
            p
            for p in _children(server.pid)
            if "fhir_server" in Path(f"/proc/{p}/cmdline").read_text()
            or "multiprocessing" in Path(f"/proc/{p}/cmdline").read_text()
        ]
        assert len(workers) >= 2
        assert httpx.get(f"{base}/fhir/Patient/legacy-pat-901234").status_code == 200
        created = httpx.post(
            f"{base}/fhir/Patient",
            json={"resourceType": "Patient", "gender": "other"},
            headers={"Content-Type": "application/fhir+json"},
        )
        assert created.status_code == 201
        # Fresh connections spread over both workers; every one sees the same resource.
        for _ in range(10):
            with httpx.Client() as client:
                assert client.get(f"{base}/fhir/Patient/{created.json()['id']}").status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=30)
