"""Orthanc servers on this machine for the demo hospitals: Debian's `orthanc` + `orthanc-dicomweb`, one
process per hospital with its storage under the data dir, loopback only, HTTP authentication on.

They are children of the process that starts them and die with it (parent-death signal), so a demo
server never leaves PACS processes behind. Ports are chosen afresh at every start; the caller updates the
hospital's registration with the new address.

One Orthanc at a time may use a storage directory (its SQLite index is locked by the first: a second one
fails with "database is locked"). The process that starts it holds an exclusive `flock` on `orthanc.lock`
and records the port in `running.json`; another process (`fhir-server demo` while `serve --demo` runs)
finds the lock taken and uses the running Orthanc instead of starting its own.

Files that hold the Orthanc password (`orthanc.json`, `credentials.json`) are readable by their owner only.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from fhir_server.child_process import die_with_parent, free_loopback_port, stop

ORTHANC = Path("/usr/sbin/Orthanc")
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
INSTALL_HINT = "apt-get install -y --no-install-recommends orthanc orthanc-dicomweb"
_USER = "fhir-server"
_CREDENTIALS = "credentials.json"
_CONFIG = "orthanc.json"
_LOCK = "orthanc.lock"
_RUNNING = "running.json"


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
    reused: bool = False  # another process runs this Orthanc; we only use it
    _lock: IO[str] | None = field(default=None, repr=False)

    @classmethod
    def in_directory(cls, name: str, directory: Path) -> LocalOrthanc:
        """One whose password persists in its directory (0600), so stored studies stay reachable."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / _CREDENTIALS
        if path.exists():
            password = json.loads(path.read_text())["password"]
            path.chmod(0o600)  # older versions may have left it readable by others
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
        """Starts this Orthanc, or attaches to it when another process already runs it."""
        if missing := missing_orthanc():
            raise LocalOrthancError(
                f"Orthanc is not installed ({', '.join(map(str, missing))} missing); install: {INSTALL_HINT}"
            )
        self.directory.mkdir(parents=True, exist_ok=True)
        lock = (self.directory / _LOCK).open("a+")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            return self._attach(timeout)
        self._lock = lock
        try:
            return self._start_owned(timeout)
        except BaseException:
            self._release()
            raise

    def _start_owned(self, timeout: float) -> LocalOrthanc:
        config = self.directory / _CONFIG
        _write_private(config, json.dumps(self.config(), indent=2))
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
            if self._answers():
                running = {"http_port": self.http_port, "pid": self.process.pid, "owner_pid": os.getpid()}
                _write_private(self.directory / _RUNNING, json.dumps(running))
                return self
            time.sleep(0.1)
        self.stop()
        raise LocalOrthancError(
            f"Orthanc {self.name} did not answer within {timeout:.0f}s; see {self.log_path}"
        )

    def _attach(self, timeout: float) -> LocalOrthanc:
        """Use the Orthanc another process started on this directory (its port is in running.json)."""
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                running = json.loads((self.directory / _RUNNING).read_text())
                self.http_port = int(running["http_port"])
                if self._answers():
                    self.reused = True
                    return self
            if time.monotonic() > deadline:
                raise LocalOrthancError(
                    f"Orthanc {self.name} under {self.directory} is run by another process (see "
                    f"{self.directory / _RUNNING}), but it did not answer within {timeout:.0f}s"
                )
            time.sleep(0.1)

    def _answers(self) -> bool:
        try:
            return httpx.get(f"{self.url}/system", auth=self.auth, timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            # Orthanc flushes its index on the way out: give it time before killing.
            stop(self.process, timeout=20)
            with contextlib.suppress(FileNotFoundError):
                (self.directory / _RUNNING).unlink()
        self.process = None
        self._release()

    def _release(self) -> None:
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

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


def _write_private(path: Path, text: str) -> None:
    """Owner-only (0600) whatever the umask, also when the file exists from an older version: it holds
    the Orthanc password."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(text)
