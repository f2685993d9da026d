"""Whole-process load benchmark: our server (SMART auth on) vs bare Starlette baselines, measured with wrk.

One SecantusDB process, started exactly as the server starts its embedded database
(fhir_server.storage.embedded.open_embedded: same binary, same flags, journaled), serves every target: the
server (database `fhir`, reached through FHIR_MONGODB_URI, since `--workers 2` needs a URI) and the bare
app (bench/bare_app.py, database `bare`, holding copies of the same 200 Patients). Targets run one at a
time, each process started for its runs and stopped after, so they never compete for the CPU; wrk runs on
the same machine (`-t2 -c16` by default) and its own CPU use is part of what every target pays alike.

    python bench/load.py [--duration 10] [--connections 16] [--quick] [--json results.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pymongo

ROOT = Path(__file__).resolve().parent.parent
# The repo root first: tests/ holds folders named like our packages (tests/fhir_server…).
sys.path[:0] = [str(ROOT)]
from fhir_server.child_process import free_loopback_port
from fhir_server.settings import Settings
from fhir_server.storage.embedded import open_embedded
from tests.server_process import RunningServer, run_cli, start_server

PATIENTS = 200
THREADS = 2
NATIONAL_ID = Settings().national_id_system
MRN = "urn:bench:mrn"
Resource = dict[str, Any]  # a FHIR resource as JSON


@dataclass
class Request:
    path: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Target:
    name: str
    origin: str  # scheme://host:port
    requests: list[Request]  # rotated over, in order
    method: str = "GET"
    body: str | None = None
    expect: int = 200


@dataclass
class Result:
    target: str
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # non-2xx/3xx answers and socket errors: a run with errors measured something else


# --- wrk ------------------------------------------------------------------------------------------------


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise SystemExit("bench/load.py needs wrk: install the Debian package (sudo apt-get install -y wrk)")
    print("wrk not found: apt-get install -y wrk", flush=True)
    subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, stdout=subprocess.DEVNULL)
    return shutil.which("wrk") or "wrk"


def _lua(text: str) -> str:
    # A long bracket needs no escaping; nothing we send contains its closing `]==]`.
    return f"[==[{text}]==]"


def lua_script(target: Target) -> str:
    """Each wrk thread formats every request once, then rotates over them (ids spread over all 200)."""
    entries = ",\n".join(
        "  {"
        + _lua(r.path)
        + ", {"
        + ", ".join(f"[ {_lua(k)} ] = {_lua(v)}" for k, v in r.headers.items())
        + "}}"
        for r in target.requests
    )
    body = "nil" if target.body is None else _lua(target.body)
    return f"""local entries = {{
{entries}
}}
local formatted = {{}}
local i = 0
init = function(args)
  for n, e in ipairs(entries) do formatted[n] = wrk.format("{target.method}", e[1], e[2], {body}) end
end
request = function()
  i = i % #formatted + 1
  return formatted[i]
end
"""


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()  # type: ignore[union-attr]
    return float(number) * _UNIT_MS[unit]


def parse_wrk(name: str, output: str) -> Result:
    """Requests/sec, the 50 % and 99 % lines of `--latency`'s distribution, and every kind of error."""
    percentile = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", output, re.M))
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = (sum(map(int, sockets.groups())) if sockets else 0) + (int(non_2xx[1]) if non_2xx else 0)
    total = re.search(r"(\d+) requests in", output)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if not (percentile and total and rps):
        raise RuntimeError(f"cannot parse wrk output:\n{output}")
    return Result(name, float(rps[1]), _ms(percentile["50"]), _ms(percentile["99"]), int(total[1]), errors)


def run_wrk(wrk: str, target: Target, seconds: float, connections: int, script_dir: Path) -> Result:
    # One request first: a run of 401s or 404s would be fast and meaningless.
    first = target.requests[0]
    answer = httpx.request(
        target.method, target.origin + first.path, headers=first.headers, content=target.body, timeout=30
    )
    if answer.status_code != target.expect:
        raise RuntimeError(f"{target.name}: {answer.status_code} (want {target.expect}) {answer.text[:300]}")
    script = script_dir / (re.sub(r"\W+", "-", target.name) + ".lua")
    script.write_text(lua_script(target))
    command = [
        wrk,
        f"-t{min(THREADS, connections)}",
        f"-c{connections}",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        str(script),
    ]
    # Warm-up (connections, caches, the server's lazily built state), not measured.
    subprocess.run(
        [*command, f"-d{max(1, round(seconds / 5))}s", target.origin], check=True, capture_output=True
    )
    done = subprocess.run(
        [*command, f"-d{seconds:g}s", target.origin], check=True, capture_output=True, text=True
    )
    result = parse_wrk(target.name, done.stdout)
    print(f"  {_row(result)}", flush=True)
    return result


# --- processes ------------------------------------------------------------------------------------------


@contextlib.contextmanager
def bare_app(uri: str, workers: int) -> Iterator[str]:
    """bench/bare_app.py under uvicorn with the server's settings (uvloop, httptools, no access log)."""
    port = free_loopback_port()
    command = [sys.executable, "-m", "uvicorn", "bare_app:app", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", str(workers), "--log-level", "warning", "--no-access-log"]
    process = subprocess.Popen(command, cwd=ROOT / "bench", env={**os.environ, "BARE_MONGO_URI": uri})
    origin = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{origin}/constant", timeout=1).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("bare app did not start")
            time.sleep(0.1)
        yield origin
    finally:
        process.terminate()  # uvicorn stops its workers on SIGTERM
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def our_server(data_dir: Path, uri: str, workers: int) -> Iterator[RunningServer]:
    env = {"FHIR_AUTH_MODE": "smart", "FHIR_MONGODB_URI": uri, "FHIR_LOG_LEVEL": "warning"}
    server = start_server(data_dir, "--workers", str(workers), env=env)
    try:
        yield server
    finally:
        server.stop()


def mint(server: RunningServer, uri: str, scope: str) -> str:
    """`fhir-server token`, as an operator would; its last line is the token."""
    done = run_cli(
        "token", "--data-dir", str(server.data_dir), "--scope", scope, "--aud", server.base_url,
        env={"FHIR_MONGODB_URI": uri, "FHIR_LOG_LEVEL": "warning"},
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"token: {done.stderr}")
    return done.stdout.strip().splitlines()[-1]


def settle(uri: str, timeout: float = 60) -> None:
    """Wait until the server's background audit writer has caught up (the AuditEvent count stops growing):
    otherwise a run would pay for the audit events of the load or of the run before it."""
    with pymongo.MongoClient[Resource](uri) as client:
        events = client.fhir.audit_events
        count, deadline = -1, time.monotonic() + timeout
        while (now := events.estimated_document_count()) != count and time.monotonic() < deadline:
            count = now
            time.sleep(0.5)


# --- data -----------------------------------------------------------------------------------------------


def patient(n: int) -> Resource:
    return {
        "resourceType": "Patient",
        "identifier": [
            {"system": MRN, "value": f"MRN-{n:06d}"},
            {"system": NATIONAL_ID, "value": f"NID{n:09d}"},
        ],
        "name": [{"family": "Bench", "given": ["Mark"]}],
        "gender": "other",
        "birthDate": "1980-02-03",
    }


def load(server: RunningServer, token: str) -> list[Resource]:
    """Through the API: a hospital (Organization + Endpoint) and 200 Patients with one ImagingStudy each,
    so the federation query has something to join and include. Returns the Patients as stored."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=30) as client:

        def create(resource: Resource) -> Resource:
            answer = client.post(f"/{resource['resourceType']}", json=resource)
            if answer.status_code != 201:
                raise RuntimeError(
                    f"create {resource['resourceType']}: {answer.status_code} {answer.text[:300]}"
                )
            return dict(answer.json())

        hospital = create({"resourceType": "Organization", "name": "Bench Hospital", "active": True})
        endpoint = create(
            {
                "resourceType": "Endpoint",
                "status": "active",
                "connectionType": {
                    "system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
                    "code": "dicom-wado-rs",
                },
                "payloadType": [{"text": "DICOM"}],
                "address": "https://pacs.bench.example/dicom-web",
                "managingOrganization": {"reference": f"Organization/{hospital['id']}"},
            }
        )
        patients = []
        for n in range(PATIENTS):
            stored = create(patient(n))
            create(
                {
                    "resourceType": "ImagingStudy",
                    "status": "available",
                    "subject": {"reference": f"Patient/{stored['id']}"},
                    "endpoint": [{"reference": f"Endpoint/{endpoint['id']}"}],
                    "identifier": [
                        {"system": "urn:dicom:uid", "value": f"urn:oid:1.2.826.0.1.3680043.10.{n}"}
                    ],
                }
            )
            patients.append(stored)
    return patients


# --- targets --------------------------------------------------------------------------------------------


def server_targets(
    server: RunningServer, patients: list[Resource], reader: str, writer: str, label: str, all_ops: bool
) -> list[Target]:
    origin = server.base_url.removesuffix("/fhir")
    auth = {"Authorization": f"Bearer {reader}", "Accept": "application/fhir+json"}

    def each(
        path: Callable[[Resource], str], headers: Callable[[Resource], dict[str, str]] = lambda p: {}
    ) -> list[Request]:
        return [Request(path(p), {**auth, **headers(p)}) for p in patients]

    targets = [Target(f"read by id ({label})", origin, each(lambda p: f"/fhir/Patient/{p['id']}"))]
    if not all_ops:
        return targets
    # The federation query exactly as README "Search and the federation query" writes it.
    includes = "&_include=ImagingStudy:endpoint&_include:iterate=Endpoint:organization&_count=100"
    create = {"Authorization": f"Bearer {writer}", "Content-Type": "application/fhir+json"}
    return [
        *targets,
        Target(f"vread ({label})", origin, each(lambda p: f"/fhir/Patient/{p['id']}/_history/{_version(p)}")),
        Target(
            f"conditional read 304 ({label})",
            origin,
            each(lambda p: f"/fhir/Patient/{p['id']}", lambda p: {"If-None-Match": f'W/"{_version(p)}"'}),
            expect=304,
        ),
        Target(
            f"search identifier ({label})",
            origin,
            each(lambda p: f"/fhir/Patient?identifier={_identifier(p, MRN)}"),
        ),
        Target(
            f"federation query ({label})",
            origin,
            each(lambda p: f"/fhir/ImagingStudy?patient.identifier={_identifier(p, NATIONAL_ID)}{includes}"),
        ),
        Target(
            f"create ({label})",
            origin,
            [Request("/fhir/Patient", {**auth, **create})],
            method="POST",
            body=json.dumps(patient(PATIENTS)),
            expect=201,
        ),
    ]


def _version(p: Resource) -> str:
    return str(p["meta"]["versionId"])


def _identifier(p: Resource, system: str) -> str:
    value = next(i["value"] for i in p["identifier"] if i["system"] == system)
    return quote(f"{system}|{value}", safe="")


def bare_targets(origin: str, patients: list[Resource], label: str, all_ops: bool) -> list[Target]:
    targets = [
        Target(f"constant bytes ({label})", origin, [Request("/constant")]),
        Target(f"bare find_one ({label})", origin, [Request(f"/fhir/Patient/{p['id']}") for p in patients]),
    ]
    if all_ops:
        create = Request("/fhir/Patient", {"Content-Type": "application/fhir+json"})
        targets.append(
            Target(f"bare insert_one ({label})", origin, [create], "POST", json.dumps(patient(PATIENTS)), 201)
        )
    return targets


# --- report ---------------------------------------------------------------------------------------------

RATIOS = [
    ("read by id (auth) / constant-bytes ceiling", "read by id (1 worker)", "constant bytes (1 worker)"),
    ("read by id (auth) / bare find_one", "read by id (1 worker)", "bare find_one (1 worker)"),
    ("create / bare insert_one", "create (1 worker)", "bare insert_one (1 worker)"),
    ("2 workers: read by id / ceiling", "read by id (2 workers)", "constant bytes (2 workers)"),
    ("2 workers: read by id / bare find_one", "read by id (2 workers)", "bare find_one (2 workers)"),
    ("read by id: 2 workers / 1 worker", "read by id (2 workers)", "read by id (1 worker)"),
]


def _row(r: Result) -> str:
    errors = f"  {r.errors} ERRORS" if r.errors else ""
    return f"{r.target:36s} {r.requests_per_second:9.0f} {r.p50_ms:9.2f} {r.p99_ms:9.2f}{errors}"


def report(results: list[Result]) -> dict[str, float]:
    by_name = {r.target: r.requests_per_second for r in results}
    print(f"\n{'target':36s} {'req/s':>9s} {'p50 ms':>9s} {'p99 ms':>9s}")
    for r in results:
        print(_row(r))
    ratios = {label: by_name[a] / by_name[b] for label, a, b in RATIOS if a in by_name and b in by_name}
    print()
    for label, ratio in ratios.items():
        print(f"{label:55s} {ratio:6.1%}")
    return ratios


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10, help="seconds per measured run (default 10)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument("--quick", action="store_true", help="1 s runs: a smoke test, not a measurement")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()
    seconds = 1 if args.quick else args.duration
    wrk = ensure_wrk()
    # Ctrl-C and SIGTERM unwind the `with` blocks, so every process we started is stopped (the database
    # also dies with us). SIGINT explicitly: a shell starts background jobs with it ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))
    load_before = os.getloadavg()
    print(f"{os.cpu_count()} CPUs, load average {load_before[0]:.2f}; wrk -t{THREADS} -c{args.connections}")

    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="fhir-load-") as tmp:
        database = open_embedded(Path(tmp) / "db", "cli")
        try:
            uri = database.uri
            data_dir = Path(tmp) / "server"

            def measure(targets: list[Target]) -> None:
                for target in targets:
                    settle(uri)
                    results.append(run_wrk(wrk, target, seconds, args.connections, Path(tmp)))

            with our_server(data_dir, uri, workers=1) as server:
                patients = load(server, mint(server, uri, "admin system/*.cruds"))
                reader, writer = mint(server, uri, "system/*.rs"), mint(server, uri, "system/*.cruds")
                measure(server_targets(server, patients, reader, writer, "1 worker", all_ops=True))
            with our_server(data_dir, uri, workers=2) as server:
                reader = mint(server, uri, "system/*.rs")
                measure(server_targets(server, patients, reader, reader, "2 workers", all_ops=False))
            # The same 200 Patients, as the server stored them, for the bare app's find_one.
            with pymongo.MongoClient[Resource](uri) as client:
                client.bare.Patient.insert_many([{"_id": p["id"], "res": p} for p in patients])
            for workers, label in ((1, "1 worker"), (2, "2 workers")):
                with bare_app(uri, workers) as origin:
                    measure(bare_targets(origin, patients, label, all_ops=workers == 1))
        finally:
            database.close()

    ratios = report(results)
    load_after = os.getloadavg()
    print(f"\nload average {load_before[0]:.2f} before, {load_after[0]:.2f} after (1 min)")
    if args.json:
        settings = {"duration_s": seconds, "connections": args.connections, "threads": THREADS}
        machine = {"cpus": os.cpu_count(), "loadavg_before": load_before, "loadavg_after": load_after}
        document = {"settings": settings, "machine": machine, "results": [asdict(r) for r in results]}
        args.json.write_text(json.dumps({**document, "ratios": ratios}, indent=2) + "\n")
    return 1 if any(r.errors for r in results) else 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:
        raise SystemExit("interrupted: every process stopped") from None
