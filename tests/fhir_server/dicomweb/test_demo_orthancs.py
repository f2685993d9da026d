"""The demo's local Orthancs: files holding their password are private (0600), and `fhir-server demo` run
while `serve --demo` serves the same data dir uses the Orthancs the server runs instead of starting a second
Orthanc on the same storage (which failed with Orthanc's "database is locked")."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx

from fhir_server.demo.local_hospitals import DIRECTORY
from fhir_server.demo.local_orthanc import LocalOrthanc
from tests.server_process import REPO_ROOT, start_server


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_files_with_orthanc_credentials_are_private_and_a_running_orthanc_is_reused(tmp_path: Path) -> None:
    directory = tmp_path / "hos-x"
    directory.mkdir()
    # Left world-readable by an older version: made private at the next start.
    (directory / "orthanc.json").write_text("{}")
    (directory / "orthanc.json").chmod(0o644)
    owner = LocalOrthanc.in_directory("HOS-X", directory).start()
    try:
        for name in ("orthanc.json", "credentials.json", "running.json"):
            assert _mode(directory / name) == 0o600, name
        assert owner.password in (directory / "orthanc.json").read_text()
        (directory / "credentials.json").chmod(0o644)
        second = LocalOrthanc.in_directory("HOS-X", directory).start()
        assert _mode(directory / "credentials.json") == 0o600
        assert second.reused and second.process is None and second.http_port == owner.http_port
        assert httpx.get(f"{second.url}/system", auth=second.auth, timeout=10).status_code == 200
        second.stop()  # not its Orthanc: still running
        assert httpx.get(f"{owner.url}/system", auth=owner.auth, timeout=10).status_code == 200
    finally:
        owner.stop()
    assert not (directory / "running.json").exists()
    # Released: the next one starts its own again.
    again = LocalOrthanc.in_directory("HOS-X", directory).start()
    try:
        assert not again.reused and again.process is not None
    finally:
        again.stop()


def _orthanc_processes(data: Path) -> set[int]:
    """The Orthanc processes serving this data directory (other tests may run their own at the same time)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
                if argv[0].endswith(b"Orthanc") and any(str(data).encode() in arg for arg in argv[1:]):
                    found.add(int(entry.name))
            except OSError:
                continue
    return found


def test_demo_while_the_demo_server_runs(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server(data, "--demo", "--local-orthanc", timeout=180)
    try:
        before = _orthanc_processes(data)
        assert len(before) == 3, before  # one Orthanc per demo hospital
        env = {k: v for k, v in os.environ.items() if k not in ("FHIR_PORT", "FHIR_PUBLIC_BASE_URL")}
        demo = subprocess.run(
            [sys.executable, "-m", "fhir_server", "demo", "--data-dir", str(data)],
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO_ROOT,
            timeout=300,
            check=False,
        )
        output = demo.stdout + demo.stderr
        assert demo.returncode == 0, output
        assert "database is locked" not in output and "not reachable" not in output, output
        assert demo.stdout.count("images already in") == 4, output
        assert _orthanc_processes(data) == before  # no second Orthanc was started on the same storage
        # The demo's Endpoints still point at the running server, and the images load through it.
        origin = server.base_url.removesuffix("/fhir")
        study = httpx.get(f"{server.base_url}/ImagingStudy/legacy-stu-20240220091500", timeout=30).json()
        endpoint = httpx.get(f"{server.base_url}/{study['endpoint'][0]['reference']}", timeout=30).json()
        assert endpoint["address"].startswith(f"{origin}/dicomweb/")
        uid = next(i["value"] for i in study["identifier"] if i["system"] == "urn:dicom:uid")
        metadata = httpx.get(
            f"{endpoint['address']}/studies/{uid.removeprefix('urn:oid:')}/metadata", timeout=30
        )
        assert metadata.status_code == 200, metadata.text
        for hospital in ("hos-001", "hos-002", "hos-003"):
            directory = data / DIRECTORY / hospital
            assert _mode(directory / "orthanc.json") == 0o600
            assert json.loads((directory / "running.json").read_text())["owner_pid"] == server.process.pid
    finally:
        server.stop()
