"""Core benchmark: read-by-id and create throughput of our server vs a bare Starlette app
(bench/bare_app.py) doing the same single pymongo operation on the same embedded database.

Both run under the same uvicorn (uvloop + httptools, one worker) side by side; the load comes from one
asyncio client with a fixed number of requests and bounded concurrency, on loopback only. Runs alternate
(ours, bare, ours, bare…) and the best of each is kept, so background noise hurts both alike.

    python bench/core_bench.py [--requests 2000] [--concurrency 16] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
# The repo root first: tests/ holds folders named like our packages (tests/fhir_server…).
sys.path[:0] = [str(ROOT)]
from tests.server_process import free_port, start_server

PATIENT = {
    "resourceType": "Patient",
    "name": [{"family": "Bench", "given": ["Mark"]}],
    "gender": "other",
    "birthDate": "1980-02-03",
    "identifier": [{"system": "urn:bench", "value": "1"}],
}


async def _run(url_of: list[str], method: str, concurrency: int) -> float:
    body = json.dumps(PATIENT).encode()
    headers = {"Content-Type": "application/fhir+json"}
    queue = list(url_of)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def worker() -> None:
            while queue:
                url = queue.pop()
                if method == "GET":
                    r = await client.get(url)
                else:
                    r = await client.post(url, content=body, headers=headers)
                if r.status_code not in (200, 201):
                    raise RuntimeError(f"{method} {url}: {r.status_code} {r.text[:200]}")

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return len(url_of) / (time.perf_counter() - start)


def _start_bare(uri: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bare_app:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT / "bench",
        env={**os.environ, "BARE_MONGO_URI": uri},
    )
    base = f"http://127.0.0.1:{port}/fhir"
    for _ in range(200):
        try:
            httpx.get(f"{base}/Patient/x", timeout=1)
            return process, base
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError("bare app did not start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        ours = start_server(Path(tmp) / "data", env={"FHIR_LOG_LEVEL": "warning"})
        uri = json.loads((Path(tmp) / "data" / "embedded-db.json").read_text())["uri"]
        bare, bare_base = _start_bare(uri)
        try:
            results: dict[str, dict[str, float]] = {"ours": {}, "bare": {}}
            ids: dict[str, list[str]] = {}
            for name, base in (("ours", ours.base_url), ("bare", bare_base)):
                ids[name] = [httpx.post(f"{base}/Patient", json=PATIENT).json()["id"] for _ in range(200)]
            for _ in range(args.rounds):
                for name, base in (("ours", ours.base_url), ("bare", bare_base)):
                    creates = asyncio.run(_run([f"{base}/Patient"] * args.requests, "POST", args.concurrency))
                    reads_urls = [f"{base}/Patient/{ids[name][i % 200]}" for i in range(args.requests)]
                    reads = asyncio.run(_run(reads_urls, "GET", args.concurrency))
                    results[name]["create"] = max(results[name].get("create", 0), creates)
                    results[name]["read"] = max(results[name].get("read", 0), reads)
        finally:
            bare.terminate()
            bare.wait()
            ours.stop()
    for op in ("read", "create"):
        ratio = results["ours"][op] / results["bare"][op]
        verdict = "PASS" if ratio >= 0.5 else "FAIL"
        print(
            f"{op:6s}  ours {results['ours'][op]:8.0f} req/s   bare {results['bare'][op]:8.0f} req/s   "
            f"ratio {ratio:5.0%}  (target >= 50%) {verdict}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
