"""Orthanc servers on this machine for the demo hospitals: Debian's `orthanc` + `orthanc-dicomweb`, one
process per hospital with its storage under the data dir, loopback only, HTTP authentication on.

They are children of the process that starts them and die with it (parent-death signal), so a demo
server never leaves PACS processes behind. Ports are chosen afresh at every start; the caller registers
the hospital again with the new address (registration is an idempotent update).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from fhir_server.child_process import die_with_parent, free_loopback_port, stop

ORTHANC = Path("/usr/sbin/Orthanc")
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
INSTALL_HINT = "apt-get install -y --no-install-recommends orthanc orthanc-dicomweb"
_USER = "fhir-server"
_CREDENTIALS = "credentials.json"


class LocalOrthancError(RuntimeError):
    """An Orthanc could not be started; the message says why and where its log is."""


def missing_orthanc() -> list[Path]:
    """The Orthanc files this machine lacks (empty when local Orthancs can run)."""
    return [path for path in (ORTHANC, DICOMWEB_PLUGIN) if not path.exists()]


@dataclass
class LocalOrthanc:
    name: str
    directory: Path
    username: str = _USER
    password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    http_port: int = field(default_factory=free_loopback_port)
    dicom_server: bool = False
    dicom_port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @classmethod
    def in_directory(cls, name: str, directory: Path) -> LocalOrthanc:
        """One whose password persists in its directory (0600), so stored studies stay reachable."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / _CREDENTIALS
        if path.exists():
            password = json.loads(path.read_text())["password"]
        else:
            password = secrets.token_urlsafe(18)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as out:
                json.dump({"username": _USER, "password": password}, out)
        return cls(name, directory, password=password)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def auth(self) -> tuple[str, str]:
        return self.username, self.password

    @property
    def log_path(self) -> Path:
        return self.directory / "orthanc.log"

    def start(self, timeout: float = 30) -> LocalOrthanc:
        if missing := missing_orthanc():
            raise LocalOrthancError(
                f"Orthanc is not installed ({', '.join(map(str, missing))} missing); install: {INSTALL_HINT}"
            )
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "orthanc.json"
        config.write_text(json.dumps(self.config(), indent=2))
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(ORTHANC), str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=die_with_parent,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise LocalOrthancError(
                    f"Orthanc {self.name} exited; see {self.log_path}: {self._log_tail()}"
                )
            try:
                if httpx.get(f"{self.url}/system", auth=self.auth, timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise LocalOrthancError(
            f"Orthanc {self.name} did not answer within {timeout:.0f}s; see {self.log_path}"
        )

    def stop(self) -> None:
        if self.process is not None:
            # Orthanc flushes its index on the way out: give it time before killing.
            stop(self.process, timeout=20)
        self.process = None

    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "Name": self.name,
            "HttpPort": self.http_port,
            "StorageDirectory": str(self.directory / "storage"),
            "IndexDirectory": str(self.directory / "index"),
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": True,
            "RegisteredUsers": {self.username: self.password},
            "Plugins": [str(DICOMWEB_PLUGIN)],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
            "DicomServerEnabled": self.dicom_server,
        }
        if self.dicom_server:
            config["DicomPort"] = self.dicom_port or free_loopback_port()
        return config

    def _log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else "(no log)"
