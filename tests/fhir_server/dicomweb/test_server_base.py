"""Endpoint addresses follow the server: CLI commands run beside a server on a port other than the default
(and without FHIR_PUBLIC_BASE_URL) address Endpoints at that server, `doctor` agrees with them, and a server
restarted on another port rewrites the addresses of its old base, one new version each."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from fhir_server.dicomweb.hospitals.addresses import SERVER_FILE
from tests.fhir_server.dicomweb.orthanc_process import PASSWORD, USER, OrthancServer
from tests.server_process import REPO_ROOT, start_server


def _cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A command as an operator types it: nothing in the environment says where the server listens."""
    env = {k: v for k, v in os.environ.items() if k not in ("FHIR_HOST", "FHIR_PORT", "FHIR_PUBLIC_BASE_URL")}
    return subprocess.run(
        [sys.executable, "-m", "fhir_server", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        env={**env, "FHIR_LOG_FORMAT": "text"},
        cwd=REPO_ROOT,
        timeout=120,
        check=False,
    )


def _endpoints(base_url: str, organization_id: str) -> list[dict[str, object]]:
    organization = httpx.get(f"{base_url}/Organization/{organization_id}", timeout=30).json()
    return [httpx.get(f"{base_url}/{e['reference']}", timeout=30).json() for e in organization["endpoint"]]


def test_endpoint_addresses_follow_the_port_the_server_listens_on(
    orthanc_factory: type[OrthancServer], tmp_path: Path
) -> None:
    orthanc = orthanc_factory("PORTS", tmp_path / "orthanc").start()
    data = tmp_path / "data"
    first = start_server(data)
    try:
        origin = first.base_url.removesuffix("/fhir")
        assert not origin.endswith(":8080")
        recorded = json.loads((data / SERVER_FILE).read_text())
        assert recorded["fhirBase"] == first.base_url
        added = _cli(
            data, "hospital", "add", "--name", "Port Hospital", "--identifier", "HOS-PORT",
            "--orthanc-url", orthanc.url, "--orthanc-user", USER, "--orthanc-password", PASSWORD,
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        organization_id = added.stdout.strip().splitlines()[-1]
        endpoints = _endpoints(first.base_url, organization_id)
        assert [e["address"] for e in endpoints] == [f"{origin}/dicomweb/{e['id']}" for e in endpoints]
        doctor = _cli(data, "doctor")
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
        assert "WARN" not in doctor.stdout, doctor.stdout
    finally:
        first.stop()

    second = start_server(data)
    try:
        moved = second.base_url.removesuffix("/fhir")
        assert moved != origin
        rewritten = _endpoints(second.base_url, organization_id)
        assert [e["address"] for e in rewritten] == [f"{moved}/dicomweb/{e['id']}" for e in rewritten]
        assert [e["meta"]["versionId"] for e in rewritten] == ["2", "2"]  # one new version each
        log = second.log_path.read_text()
        assert all(f"Endpoint/{e['id']}: address {origin}/dicomweb/" in log for e in rewritten), log[-3000:]
        doctor = _cli(data, "doctor")
        assert doctor.returncode == 0 and "WARN" not in doctor.stdout, doctor.stdout
        # Through the new address, the proxy reaches the PACS.
        studies = httpx.get(f"{rewritten[1]['address']}/studies", timeout=30)
        assert studies.status_code in (200, 204), studies.text
    finally:
        second.stop()
