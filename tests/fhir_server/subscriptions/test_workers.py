"""Two uvicorn workers on one database: every write is journaled once and claimed by one worker, every
delivery leased by one worker, so each event reaches the endpoint once — one handshake, event numbers
1…n each exactly once, each study the focus of exactly one event — whichever worker took the writes."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.fhir_server.security.smart.test_revocation_workers import two_workers
from tests.fhir_server.subscriptions.harness import ENV, Receiver, subscription, until
from tests.server_process import SecuredServer

STUDIES = 24


def test_each_event_is_delivered_once_with_two_workers(tmp_path_factory: pytest.TempPathFactory) -> None:
    receiver = Receiver().start()
    tmp: Path = tmp_path_factory.mktemp("sub-workers")
    try:
        with two_workers(tmp, {k: v for k, v in ENV.items() if k != "FHIR_AUTH_MODE"}) as workers:
            server = SecuredServer(workers.running, workers.connection)
            with server.client(server.mint("system/*.cruds", role=None)) as http:
                patient = http.post("/Patient", json={"resourceType": "Patient"}).json()["id"]
                created = http.post(
                    "/Subscription",
                    json=subscription(filters=f"ImagingStudy?patient={patient}", endpoint=receiver.url()),
                )
                assert created.status_code == 201, created.text
                sub_id = created.json()["id"]
                until(lambda: receiver.of(sub_id, "handshake"), 15, "handshake")

                def write(n: int) -> str:
                    study = {
                        "resourceType": "ImagingStudy",
                        "status": "available",
                        "subject": {"reference": f"Patient/{patient}"},
                        "description": f"study {n}",
                    }
                    answer = http.post("/ImagingStudy", json=study)
                    assert answer.status_code == 201, answer.text
                    return f"ImagingStudy/{answer.json()['id']}"

                with ThreadPoolExecutor(8) as pool:
                    written = list(pool.map(write, range(STUDIES)))

            def delivered() -> list[tuple[int, str]]:
                return [e for r in receiver.of(sub_id, "event-notification") for e in r.events()]

            until(lambda: len(delivered()) >= STUDIES, 30, f"{STUDIES} events")
            server.running.process.poll()
            events = delivered()
            assert sorted(n for n, _ in events) == list(range(1, STUDIES + 1))
            assert Counter(focus for _, focus in events) == Counter(written)
            assert len(receiver.of(sub_id, "handshake")) == 1
    finally:
        receiver.stop()
