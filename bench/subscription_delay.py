"""Delay from a study's sync to its rest-hook notification (FHIR subscriptions, fhir_server.subscriptions).

A secured server on the embedded database, a real Orthanc registered as a hospital, a rest-hook
subscription to the topic "imaging study available" pointing at a loopback receiver. Each round uploads
studies to Orthanc and runs one sync pass (`fhir-server sync`, attached to the server's database); for every
study the delay is the receiver's clock on arrival of its notification minus the study's `meta.lastUpdated`
(the moment its version was written by the sync), both on this machine's clock.

    python bench/subscription_delay.py [--rounds 3] [--studies 4]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fhir_server.dicomweb.dicom_samples import SamplePatient
from tests.fhir_server.dicomweb.orthanc_process import OrthancServer
from tests.fhir_server.subscriptions.harness import Receiver, World, subscription, until


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--studies", type=int, default=4, help="studies uploaded before each sync")
    args = parser.parse_args()
    patient = SamplePatient(
        "BENCH-1", "Bench^Mark", "19800101", "M", national_id="198001019999", national_issuer="NIDA"
    )
    with tempfile.TemporaryDirectory(prefix="subscription-bench-") as tmp:
        root = Path(tmp)
        orthanc = OrthancServer("BENCHSUB", root / "orthanc").start()
        receiver = Receiver().start()
        world = World(root, _free_port(), orthanc, receiver)
        try:
            world.start()
            world.register_hospital()
            with world.client("system/*.cruds", role=None) as http:
                created = http.post(
                    "/Subscription", json=subscription(endpoint=receiver.url(), content="id-only")
                )
                assert created.status_code == 201, created.text
                sub_id = created.json()["id"]
                until(lambda: receiver.of(sub_id, "handshake"), 15, "handshake")
                delays: list[float] = []
                for round_ in range(args.rounds):
                    described = [f"bench {round_}-{n}" for n in range(args.studies)]
                    for n, description in enumerate(described):
                        world.upload(patient, f"ACC-B-{round_}-{n}", description)
                    expected = len(delays) + args.studies
                    world.sync()
                    until(lambda e=expected: _count(receiver, sub_id) >= e, 60, "notifications")
                    arrivals = _arrivals(receiver, sub_id)
                    bundle = http.get("/ImagingStudy", params={"_count": "500"}).json()
                    for entry in bundle["entry"]:
                        study = entry["resource"]
                        if study.get("description") in described:
                            written = datetime.fromisoformat(study["meta"]["lastUpdated"]).timestamp()
                            delays.append(arrivals[f"ImagingStudy/{study['id']}"] - written)
        finally:
            world.stop()
            receiver.stop()
            orthanc.stop()
    millis = sorted(d * 1000 for d in delays)
    print(f"studies: {len(millis)} in {args.rounds} sync passes")
    print(
        f"sync write -> notification received: median {statistics.median(millis):.0f} ms, "
        f"p95 {millis[max(0, int(len(millis) * 0.95) - 1)]:.0f} ms, max {millis[-1]:.0f} ms"
    )


def _count(receiver: Receiver, sub_id: str) -> int:
    return sum(len(r.events()) for r in receiver.of(sub_id, "event-notification"))


def _arrivals(receiver: Receiver, sub_id: str) -> dict[str, float]:
    """Focus -> when its first notification arrived (wall clock)."""
    found: dict[str, float] = {}
    for received in receiver.of(sub_id, "event-notification"):
        for _, focus in received.events():
            found.setdefault(focus, received.wall)
    return found


def _free_port() -> int:
    from tests.server_process import free_port

    return free_port()


if __name__ == "__main__":
    started = time.monotonic()
    main()
    print(f"(bench took {time.monotonic() - started:.0f} s)")
