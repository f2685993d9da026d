"""Search benchmark: identifier search, family-name prefix search and the federation query, over real HTTP
against a server on the embedded database.

    python bench/search_bench.py                      # 100,000 Patients, 300,000 ImagingStudies
    python bench/search_bench.py --patients 2000 --studies 6000 --iterations 50

Data is generated (seeded, reproducible) and written straight through `BulkLoader.import_batch`, so
every version document carries the same `sp` search keys as one written over HTTP. One patient holds 50
studies at 3 hospitals; each study points to its hospital's Endpoint, whose managingOrganization is the
hospital. `--data-dir` keeps the loaded database for later runs (loading is skipped when it is present).
Only loopback is used; every loop is bounded by --iterations.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

# The repo root first: tests/ holds folders named like our packages (tests/fhir_server…).
sys.path[:0] = [str(Path(__file__).resolve().parent.parent)]
from fhir_server.resource_types import MODELS
from fhir_server.search.index import SearchIndexer
from fhir_server.search.migration import ensure_server_schema, record_index_format
from fhir_server.settings import Settings
from fhir_server.storage.bulk_load import BulkLoader
from fhir_server.storage.connection import connect
from tests.server_process import start_server

NATIONAL_ID = "https://fhir.imaging-federation.example/sid/national-id"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
CONNECTION = {
    "system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
    "code": "dicom-wado-rs",
}
FEDERATED_PATIENT = "bp-federated"
FEDERATED_ID = "999999999999"
_SYLLABLES = [
    "an",
    "ber",
    "ca",
    "dal",
    "ek",
    "fjo",
    "gun",
    "han",
    "is",
    "jo",
    "ka",
    "lar",
    "mø",
    "ne",
    "ol",
    "pe",
    "quin",
    "ros",
    "sæ",
    "tor",
    "ul",
    "vik",
    "wen",
    "xa",
    "yng",
    "zé",
    "bro",
    "stad",
    "lund",
    "sen",
]
_MODALITIES = ["CT", "MR", "US", "DX", "MG", "PT", "NM", "XA"]
BATCH = 1000


def _family(rng: random.Random) -> str:
    return (
        rng.choice(_SYLLABLES) + rng.choice(_SYLLABLES) + rng.choice(["", "sen", "son", "berg"])
    ).capitalize()


def _patient(n: int, rng: random.Random) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": f"bp-{n:06d}",
        "active": True,
        "identifier": [{"system": NATIONAL_ID, "value": f"{100000000000 + n}"}],
        "name": [{"family": _family(rng), "given": [_family(rng)]}],
        "gender": rng.choice(["female", "male"]),
        "birthDate": f"{rng.randint(1930, 2020)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
    }


def _study(n: int, patient: str, hospital: int, rng: random.Random) -> dict[str, Any]:
    modality = rng.choice(_MODALITIES)
    uid = f"1.2.826.0.1.3680043.8.498.{n + 1}"
    return {
        "resourceType": "ImagingStudy",
        "id": f"bs-{n:07d}",
        "status": "available",
        "identifier": [{"system": "urn:dicom:uid", "value": f"urn:oid:{uid}"}],
        "subject": {"reference": f"Patient/{patient}"},
        "started": f"20{rng.randint(10, 24)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T10:00:00Z",
        "modality": [{"system": DCM, "code": modality}],
        "endpoint": [{"reference": f"Endpoint/bh-{hospital:03d}-wado"}],
        "series": [
            {"uid": f"{uid}.1", "modality": {"system": DCM, "code": modality}, "numberOfInstances": 10}
        ],
    }


def _hospitals(count: int) -> Iterator[dict[str, Any]]:
    for h in range(count):
        yield {
            "resourceType": "Organization",
            "id": f"bh-{h:03d}",
            "active": True,
            "name": f"Hospital {h}",
            "endpoint": [{"reference": f"Endpoint/bh-{h:03d}-wado"}],
        }
        yield {
            "resourceType": "Endpoint",
            "id": f"bh-{h:03d}-wado",
            "status": "active",
            "connectionType": CONNECTION,
            "payloadType": [{"text": "DICOM WADO-RS"}],
            "address": f"http://pacs-{h}.example.org/dicom-web",
            "managingOrganization": {"reference": f"Organization/bh-{h:03d}"},
        }


def load(data_dir: Path, patients: int, studies: int, hospitals: int) -> None:
    connection = connect(Settings(data_dir=data_dir), "cli")
    indexer = SearchIndexer()
    ensure_server_schema(connection, None)
    loader = BulkLoader(connection, list(MODELS), indexer.index_values)
    record_index_format(connection)  # written through the current indexer: no re-index at server start
    rng = random.Random(20240601)
    started = time.monotonic()
    written = 0

    def write(resources: list[dict[str, Any]]) -> None:
        nonlocal written
        by_type: dict[str, list[dict[str, Any]]] = {}
        for resource in resources:
            by_type.setdefault(resource["resourceType"], []).append(resource)
        for batch in by_type.values():
            loader.import_batch(batch, {})
        written += len(resources)
        rate = written / (time.monotonic() - started)
        print(f"\r  loaded {written:,} resources ({rate:,.0f}/s)", end="", flush=True)

    try:
        write(list(_hospitals(hospitals)))
        federated = _patient(0, rng)
        federated.update(id=FEDERATED_PATIENT, identifier=[{"system": NATIONAL_ID, "value": FEDERATED_ID}])
        write([federated])
        write([_study(n, FEDERATED_PATIENT, n % 3, rng) for n in range(50)])
        for start in range(0, patients, BATCH):
            write([_patient(n, rng) for n in range(start, min(start + BATCH, patients))])
        for start in range(50, studies, BATCH):
            write(
                [
                    _study(n, f"bp-{rng.randrange(patients):06d}", rng.randrange(hospitals), rng)
                    for n in range(start, min(start + BATCH, studies))
                ]
            )
    finally:
        connection.close()
    print(f"\n  {written:,} resources in {time.monotonic() - started:,.0f} s")


@contextmanager
def server(data_dir: Path) -> Iterator[str]:
    # Development mode: anonymous requests, so the bench measures search rather than token checks.
    running = start_server(
        data_dir, env={"FHIR_LOG_LEVEL": "warning", "FHIR_AUTH_MODE": "development"}, timeout=120
    )
    try:
        yield running.base_url
    finally:
        running.stop()


def measure(name: str, iterations: int, request: Callable[[int], int]) -> None:
    for i in range(min(10, iterations)):
        request(i)  # warm-up
    timings: list[float] = []
    found: list[int] = []
    for i in range(iterations):
        started = time.perf_counter()
        found.append(request(i))
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    p50 = statistics.median(timings)
    p95 = timings[min(len(timings) - 1, int(len(timings) * 0.95))]
    print(f"  {name:<44} p50 {p50:7.2f} ms   p95 {p95:7.2f} ms   ({statistics.mean(found):,.1f} entries)")


def run(base: str, patients: int, iterations: int) -> None:
    rng = random.Random(7)
    with httpx.Client(base_url=base, timeout=60, headers={"Accept": "application/fhir+json"}) as client:

        def entries(path: str, params: dict[str, str]) -> dict[str, Any]:
            response = client.get(path, params=params)
            response.raise_for_status()
            return dict(response.json())

        def by_identifier(_: int) -> int:
            n = rng.randrange(patients)
            bundle = entries("/Patient", {"identifier": f"{NATIONAL_ID}|{100000000000 + n}"})
            assert bundle["total"] == 1, bundle
            return len(bundle["entry"])

        families = [_family(random.Random(s)) for s in range(500)]

        def by_family_prefix(i: int) -> int:
            bundle = entries("/Patient", {"family": families[i % len(families)][:4]})
            return int(bundle["total"])

        def federation(query: dict[str, str]) -> Callable[[int], int]:
            def request(_: int) -> int:
                bundle = entries(
                    "/ImagingStudy",
                    {
                        **query,
                        "_count": "100",
                        "_include": "ImagingStudy:endpoint",
                        "_include:iterate": "Endpoint:organization",
                    },
                )
                modes = [e["search"]["mode"] for e in bundle["entry"]]
                assert modes.count("match") == 50 and modes.count("include") == 6, modes
                return len(modes)

            return request

        measure("Patient?identifier=<national id>", iterations, by_identifier)
        measure("Patient?family=<4-letter prefix> (total)", iterations, by_family_prefix)
        measure(
            "federation by national id (50 studies, 3 hosp.)",
            iterations,
            federation({"patient.identifier": f"{NATIONAL_ID}|{FEDERATED_ID}"}),
        )
        measure(
            "federation by patient id", iterations, federation({"patient": f"Patient/{FEDERATED_PATIENT}"})
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--studies", type=int, default=300_000)
    parser.add_argument("--hospitals", type=int, default=20)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument(
        "--data-dir", type=Path, help="keep the database here (default: a temporary directory)"
    )
    args = parser.parse_args()
    if args.patients < 1 or args.studies < 50 or args.hospitals < 3 or args.iterations < 1:
        parser.error("need at least 1 patient, 50 studies, 3 hospitals and 1 iteration")
    temporary = args.data_dir is None
    data_dir = Path(tempfile.mkdtemp(prefix="search-bench-")) / "data" if temporary else args.data_dir
    try:
        if not (data_dir / "db").exists():
            print(f"loading {args.patients:,} patients, {args.studies:,} studies, {args.hospitals} hospitals")
            load(data_dir, args.patients, args.studies, args.hospitals)
        print("searching over HTTP (loopback):")
        with server(data_dir) as base:
            run(base, args.patients, args.iterations)
    finally:
        if temporary:
            shutil.rmtree(data_dir.parent, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
