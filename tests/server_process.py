"""Starting the real server as a child process (python -m fhir_server serve) for tests and benches."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from fhir_server.child_process import free_loopback_port as free_port
from fhir_server.security.oauth.access_tokens import Grant, mint_access_token
from fhir_server.security.oauth.signing_keys import KeyStore
from fhir_server.security.oauth.urls import Urls
from fhir_server.storage.connection import DatabaseConnection

REPO_ROOT = Path(__file__).resolve().parent.parent


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`python -m fhir_server ARGS` to completion, output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "fhir_server", *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )


@dataclass
class RunningServer:
    process: subprocess.Popen[bytes]
    base_url: str  # ends in /fhir
    data_dir: Path
    log_path: Path

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(
    data_dir: Path, *extra: str, env: dict[str, str] | None = None, timeout: float = 60
) -> RunningServer:
    port = free_port()
    log_path = data_dir.parent / f"{data_dir.name}-server-{port}.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fhir_server",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
            *extra,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=REPO_ROOT,
        # Development mode (anonymous access) unless the caller or environment sets FHIR_AUTH_MODE=smart:
        # suites and benches of other features need no tokens; the SMART tests start secured servers.
        env={"FHIR_AUTH_MODE": "development", **os.environ, **(env or {})},
    )
    base = f"http://127.0.0.1:{port}/fhir"
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}: {log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{base}/metadata", timeout=1).status_code == 200:
                return RunningServer(process, base, data_dir, log_path)
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"server did not start: {log_path.read_text()[-3000:]}")
        time.sleep(0.1)


@dataclass
class SecuredServer:
    """A server under test in `FHIR_AUTH_MODE=smart` and a connection to its database, so that tests mint
    access tokens with the server's own signing keys."""

    running: RunningServer
    connection: DatabaseConnection

    @property
    def base_url(self) -> str:
        return self.running.base_url

    @property
    def origin(self) -> str:
        return self.base_url.removesuffix("/fhir")

    def mint(
        self,
        scope: str,
        *,
        patient: str | None = None,
        fhir_user: str | None = None,
        role: str | None = "clinician",
    ) -> str:
        grant = Grant("tester", scope, "test", patient, fhir_user, role)
        keys = KeyStore(self.connection.documents)
        token, _ = mint_access_token(keys, Urls.for_base(self.base_url), grant, 600)
        return token

    def client(self, token: str | None) -> httpx.Client:
        headers = {"Accept": "application/fhir+json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30)
