"""The operational surface of a secured server with hospitals registered: the public health probes say
nothing about hospitals; per-PACS detail and metrics need an operator's token (admin or `system/` scope);
a PACS that accepts connections and never answers does not stall `/health/orthanc`."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx
import pytest

from fhir_server.dicomweb.orthanc.probes import ANSWER_WITHIN_SECONDS, FRESH_SECONDS
from tests.fhir_server.dicomweb.federation_setup import Federation
from tests.fhir_server.dicomweb.inprocess_server import READ_TIMEOUT, InProcessServer

HOSPITAL_WORDS = ("North Hospital", "South Clinic", "HOS-N01", "HOS-S01", "hospital", "orthanc", "pacs")
OPERATIONAL = ("/health/orthanc", "/metrics")


def test_public_health_probes_say_nothing_about_hospitals(federation: Federation) -> None:
    root = federation.server.base_url
    live = httpx.get(f"{root}/health/live", timeout=30)
    ready = httpx.get(f"{root}/health/ready", timeout=30)
    assert live.status_code == 200 and live.json() == {"status": "pass"}
    assert ready.status_code == 200
    body = ready.json()
    assert set(body) == {"status", "checks"} and set(body["checks"]) == {"database"}
    assert set(body["checks"]["database"]) <= {"status", "latency_ms"}
    for text in (live.text, ready.text):
        for word in HOSPITAL_WORDS:
            assert word.lower() not in text.lower(), word


@pytest.mark.parametrize("path", OPERATIONAL)
def test_operational_detail_needs_an_admin_or_system_token(federation: Federation, path: str) -> None:
    server = federation.server
    url = f"{server.base_url}{path}"
    anonymous = httpx.get(url, timeout=30)
    forged = httpx.get(url, headers={"Authorization": "Bearer not-a-token"}, timeout=30)
    for refused in (anonymous, forged):
        assert refused.status_code == 401, refused.text
        assert refused.headers["www-authenticate"].startswith("Bearer ")
        assert refused.json()["resourceType"] == "OperationOutcome"
    # Tokens for FHIR data, however broad, are no operator's tokens.
    for scope, patient in (("patient/*.rs", federation.ingrid), ("user/*.cruds", None)):
        denied = httpx.get(url, headers=server.bearer(scope, patient=patient), timeout=30)
        assert denied.status_code == 403, (scope, denied.text)
        assert denied.json()["issue"][0]["code"] == "forbidden"
    for refused in (anonymous, forged, denied):
        assert "North Hospital" not in refused.text and "HOS-N01" not in refused.text
    for operator in (server.bearer("system/Patient.r"), server.admin_headers()):
        allowed = httpx.get(url, headers=operator, timeout=30)
        assert allowed.status_code == 200, allowed.text
        assert "HOS-N01" in allowed.text  # the per-hospital detail is there for them


@dataclass
class HungPacs:
    """A TCP server that accepts connections and never answers (an Orthanc hung on a dead disk), counting
    the connections it accepted."""

    url: str
    accepted: list[socket.socket] = field(default_factory=list)


@pytest.fixture
def hung_pacs() -> Iterator[HungPacs]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    hung = HungPacs(f"http://127.0.0.1:{listener.getsockname()[1]}")
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            try:
                hung.accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield hung
    stop.set()
    thread.join()
    for connection in hung.accepted:
        connection.close()
    listener.close()


def _timed_health(server: InProcessServer) -> tuple[float, httpx.Response]:
    started = time.monotonic()
    response = httpx.get(f"{server.base_url}/health/orthanc", headers=server.bearer(), timeout=30)
    return time.monotonic() - started, response


def _entry(response: httpx.Response, identifier: str) -> dict[str, object]:
    entry: dict[str, object] = next(h for h in response.json()["hospitals"] if h["identifier"] == identifier)
    return entry


def test_a_pacs_that_never_answers_does_not_stall_health_checks(
    federation: Federation, hung_pacs: HungPacs
) -> None:
    server = federation.server
    registered = httpx.post(
        f"{server.base_url}/admin/hospitals",
        json={
            "name": "Hung Hospital",
            "identifier": "HOS-HUNG",
            "orthancUrl": hung_pacs.url,
            "allowOffline": True,  # it never answers the connection check either
        },
        headers=server.admin_headers(),
        timeout=30,
    )
    assert registered.status_code == 201, registered.text
    before = len(hung_pacs.accepted)

    # A monitoring system and two dashboards polling at once, the hung PACS never heard from before.
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: _timed_health(server), range(4)))
    for elapsed, response in answers:
        assert elapsed < ANSWER_WITHIN_SECONDS + 1.0, elapsed
        assert response.status_code == 200
        hung = _entry(response, "HOS-HUNG")
        assert hung["status"] == "down" and "did not answer" in str(hung["error"])
        # The healthy hospitals are still reported, and up.
        assert _entry(response, "HOS-N01")["status"] == "up"
    time.sleep(0.2)  # let the accept loop catch up
    assert len(hung_pacs.accepted) - before == 1, "one probe in flight per hospital, whoever asks"

    # The probe gives up after its own bound; its result is served from the cache, at once.
    time.sleep(READ_TIMEOUT + 0.5 - ANSWER_WITHIN_SECONDS)
    elapsed, cached = _timed_health(server)
    assert elapsed < 1.0
    assert "did not answer within" in str(_entry(cached, "HOS-HUNG")["error"])
    assert "checkedAt" in _entry(cached, "HOS-HUNG")
    assert len(hung_pacs.accepted) - before == 1, f"results are reused for {FRESH_SECONDS} s"
