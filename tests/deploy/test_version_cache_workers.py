"""The version cache is exact across uvicorn workers: a write answered by one worker is read by the next
request, whichever worker takes it; a deletion is 410 on every worker at once; a write made directly to the
database by another program reaches every worker. With the cache off the answers are the same.

Fresh connections spread over the two workers (the kernel balances accepts), so each step is repeated on
new connections. Only "within a deadline" waits: for the server to start, and for direct database writes.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pymongo
import pytest

from tests.deploy.test_workers import external_db  # noqa: F401 (fixture)
from tests.server_process import REPO_ROOT, free_port

FHIR_JSON = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
DEADLINE = 20.0


def _start(uri: str, tmp_path: Path, cache_entries: str) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "FHIR_MONGODB_URI": uri,
        "FHIR_AUTH_MODE": "development",
        "FHIR_LOG_LEVEL": "warning",
        "FHIR_VERSION_CACHE_ENTRIES": cache_entries,
    }
    log_path = tmp_path / f"server-{cache_entries}.log"
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "fhir_server", "serve", "--workers", "2", "--host", "127.0.0.1"),
            *("--port", str(port), "--data-dir", str(tmp_path / "data"), "--no-local-orthanc"),
        ],
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
        cwd=REPO_ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, log_path.read_text()[-2000:]
            try:
                if httpx.get(f"{base}/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log_path.read_text()[-2000:]
            time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


Cluster = tuple[str, str, bool]  # base URL, database URI, cache on


@pytest.fixture(params=["10000", "0"], ids=["cache", "no-cache"])
def cluster(request: pytest.FixtureRequest, external_db: str, tmp_path: Path) -> Iterator[Cluster]:  # noqa: F811
    for base in _start(external_db, tmp_path, request.param):
        yield base, external_db, request.param != "0"


def _get(url: str, **headers: str) -> httpx.Response:
    with httpx.Client(headers={"Accept": "application/fhir+json"}) as client:  # a new connection
        return client.get(url, headers=headers)


def _feeds(uri: str) -> int:
    with pymongo.MongoClient(uri) as client:
        return client["fhir"]["version_cache_feeds"].count_documents({})


def test_every_worker_reads_the_latest_write_at_once(cluster: Cluster) -> None:
    base, uri, cache_on = cluster
    # With the cache on, each worker's change feed registers itself; off, none does.
    deadline = time.monotonic() + DEADLINE
    while _feeds(uri) != (2 if cache_on else 0):
        assert time.monotonic() < deadline, _feeds(uri)
        time.sleep(0.1)
    notes = "n" * 2000  # large enough to be compressed
    created = httpx.post(
        f"{base}/fhir/Patient",
        json={"resourceType": "Patient", "gender": "male", "text": {"status": "generated", "div": notes}},
        headers=FHIR_JSON,
    )
    assert created.status_code == 201, created.text
    patient_id = created.json()["id"]
    url = f"{base}/fhir/Patient/{patient_id}"
    started = time.monotonic()
    version = 1
    # At least 40 rounds and 6 seconds: past the feeds' first lease, so cached entries are trusted too.
    while version < 40 or time.monotonic() - started < 6:
        version += 1
        gender = "female" if version % 2 else "male"
        with httpx.Client() as client:
            written = client.put(
                url,
                json={"resourceType": "Patient", "id": patient_id, "gender": gender},
                headers=FHIR_JSON,
            )
        assert written.status_code == 200, written.text
        assert written.headers["etag"] == f'W/"{version}"'
        for _ in range(2):
            read = _get(url)
            assert read.status_code == 200
            assert read.headers["etag"] == f'W/"{version}"', (version, read.headers["etag"])
            assert read.json()["gender"] == gender and read.json()["meta"]["versionId"] == str(version)

    # Revalidation from the cache: 304 without a body.
    assert _get(url, **{"If-None-Match": f'W/"{version}"'}).status_code == 304
    last_modified = _get(url).headers["last-modified"]
    assert _get(url, **{"If-Modified-Since": last_modified}).status_code == 304
    assert _get(url, **{"If-None-Match": f'W/"{version - 1}"'}).status_code == 200

    # A deletion is 410 on every worker at once.
    with httpx.Client() as client:
        assert client.delete(url).status_code in (200, 204)
    for _ in range(10):
        assert _get(url).status_code == 410

    # A write made directly to the database by another program reaches every worker.
    with pymongo.MongoClient(uri, tz_aware=True) as client:
        patients = client["fhir"]["Patient"]
        latest = patients.find_one({"id": patient_id}, sort=[("v", -1)])
        assert latest is not None and latest["del"]
        resource = {"resourceType": "Patient", "id": patient_id, "gender": "other"}
        resource["meta"] = {"versionId": str(latest["v"] + 1), "lastUpdated": "2030-01-01T00:00:00.000Z"}
        patients.insert_one(
            {"_id": f"{patient_id}/{latest['v'] + 1}", "id": patient_id, "v": latest["v"] + 1, "cur": True}
            | {"ts": latest["ts"], "del": False, "m": "PUT", "res": resource}
        )
    deadline = time.monotonic() + DEADLINE
    while not all(_get(url).status_code == 200 for _ in range(6)):
        assert time.monotonic() < deadline, "a direct database write did not reach every worker"
        time.sleep(0.05)
    assert all(_get(url).json()["gender"] == "other" for _ in range(6))


def test_gzip_is_negotiated_for_fhir_json(cluster: Cluster) -> None:
    base, _, _ = cluster
    created = httpx.post(
        f"{base}/fhir/Patient",
        json={"resourceType": "Patient", "text": {"status": "generated", "div": "d" * 4000}},
        headers=FHIR_JSON,
    )
    url = f"{base}/fhir/Patient/{created.json()['id']}"
    with httpx.Client(headers={"Accept-Encoding": "gzip"}) as client:
        compressed = client.get(url)
        assert compressed.headers["content-encoding"] == "gzip"
        assert compressed.json()["text"]["div"] == "d" * 4000  # httpx decodes it
        assert "accept-encoding" in compressed.headers["vary"].lower()
        raw = client.send(client.build_request("GET", url), stream=True)
        try:
            body = b"".join(raw.iter_raw())
        finally:
            raw.close()
        assert len(body) < 1000 and b"dddd" in gzip.decompress(body)
    with httpx.Client(headers={"Accept-Encoding": "identity"}) as client:
        plain = client.get(url)
        assert "content-encoding" not in plain.headers and plain.json()["text"]["div"] == "d" * 4000
    with httpx.Client(headers={"Accept-Encoding": "gzip"}) as client:
        tiny = httpx.post(f"{base}/fhir/Patient", json={"resourceType": "Patient"}, headers=FHIR_JSON)
        below_minimum = client.get(f"{base}/fhir/Patient/{tiny.json()['id']}")
        assert "content-encoding" not in below_minimum.headers
