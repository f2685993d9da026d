"""Real Orthanc servers (Debian packages `orthanc` + `orthanc-dicomweb`) on free loopback ports for tests.

Each has its own storage, HTTP authentication switched on (so our credentials handling is exercised) and the
DICOMweb plugin at /dicom-web/. A missing Orthanc fails the tests with the install command: never a skip.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from server_process import free_port

ORTHANC = Path("/usr/sbin/Orthanc")
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
INSTALL_HINT = "apt-get install -y --no-install-recommends orthanc orthanc-dicomweb"

USER = "fhir-sync"
PASSWORD = "orthanc-test-secret-7f3a"


def require_orthanc() -> None:
    missing = [str(path) for path in (ORTHANC, DICOMWEB_PLUGIN) if not path.exists()]
    if missing:
        pytest.fail(
            f"Orthanc is required by the DICOMweb tests but {', '.join(missing)} is missing; install: "
            f"{INSTALL_HINT}",
            pytrace=False,
        )


@dataclass
class OrthancServer:
    name: str
    directory: Path
    http_port: int = field(default_factory=free_port)
    dicom_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def auth(self) -> tuple[str, str]:
        return USER, PASSWORD

    def start(self) -> OrthancServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "orthanc.json"
        config.write_text(json.dumps(self._config()))
        log = (self.directory / "orthanc.log").open("ab")
        self.process = subprocess.Popen([str(ORTHANC), str(config)], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Orthanc {self.name} exited: {self._log_tail()}")
            try:
                if httpx.get(f"{self.url}/system", auth=self.auth, timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"Orthanc {self.name} did not start: {self._log_tail()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def store(self, dicom: bytes) -> dict[str, Any]:
        """As a modality would: Orthanc's REST upload, not our STOW-RS."""
        response = httpx.post(f"{self.url}/instances", content=dicom, auth=self.auth, timeout=30)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def delete_study(self, orthanc_id: str) -> None:
        httpx.delete(f"{self.url}/studies/{orthanc_id}", auth=self.auth, timeout=30).raise_for_status()

    def _config(self) -> dict[str, Any]:
        return {
            "Name": self.name,
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "StorageDirectory": str(self.directory / "storage"),
            "IndexDirectory": str(self.directory / "index"),
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": True,
            "RegisteredUsers": {USER: PASSWORD},
            "Plugins": [str(DICOMWEB_PLUGIN)],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        }

    def _log_tail(self) -> str:
        path = self.directory / "orthanc.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else "(no log)"
