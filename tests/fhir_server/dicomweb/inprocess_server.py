"""The FHIR server run in this test process (uvicorn in a thread) and reached over real HTTP, so that a test
can call the sync engine directly; CLI commands run as subprocesses attached to its database.

It runs secured (`FHIR_AUTH_MODE=smart`, the production default): every request carries a real access token,
minted with the server's own keys (`token`, `bearer`), and the real SecuredStore decides what it may see.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from fhir_server.api.dependencies import Services
from fhir_server.app import create_app
from fhir_server.security.oauth.access_tokens import Grant, mint_access_token
from fhir_server.security.oauth.signing_keys import KeyStore
from fhir_server.security.oauth.urls import Urls
from fhir_server.settings import Settings
from tests.server_process import REPO_ROOT, free_port

CONNECT_TIMEOUT = 2.0
READ_TIMEOUT = 2.0
# What the tests of other features act as: a backend service that may do anything with FHIR data (and, being
# a `system/` client, may read the operational endpoints).
OPERATOR_SCOPE = "system/*.cruds"


@dataclass
class InProcessServer:
    data_dir: Path
    port: int = field(default_factory=free_port)
    # Off unless a test is about the background loop: the other tests sync explicitly (CLI, sync engine)
    # and assert on what their pass did.
    sync_interval_seconds: float = 0.0
    app: FastAPI | None = None
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None
    _admin_token: str | None = None
    _tokens: dict[tuple[str, str | None], str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def settings(self) -> Settings:
        return Settings(
            data_dir=self.data_dir,
            host="127.0.0.1",
            port=self.port,
            orthanc_connect_timeout_seconds=CONNECT_TIMEOUT,
            orthanc_timeout_seconds=READ_TIMEOUT,
            log_format="text",
            auth_mode="smart",
            dicomweb_sync_interval_seconds=self.sync_interval_seconds,
        )

    @property
    def services(self) -> Services:
        assert self.app is not None
        services: Services = self.app.state.services
        return services

    def start(self) -> InProcessServer:
        self.app = create_app(self.settings)
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_config=None, access_log=False, lifespan="on"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="fhir-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 90
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the in-process FHIR server did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=60)

    def token(self, scope: str = OPERATOR_SCOPE, *, patient: str | None = None) -> str:
        """A real access token for this server (its keys, its FHIR base as audience), as a SMART app or
        backend service would hold; `patient`: the launch context of `patient/` scopes."""
        key = (scope, patient)
        if key not in self._tokens:
            grant = Grant("tester", scope, "dicomweb-tests", patient, None, None)
            urls = Urls.for_base(f"{self.base_url}/fhir")
            keys = KeyStore(self.services.connection.documents)
            self._tokens[key], _ = mint_access_token(keys, urls, grant, 3600)
        return self._tokens[key]

    def bearer(self, scope: str = OPERATOR_SCOPE, *, patient: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(scope, patient=patient)}"}

    def admin_headers(self) -> dict[str, str]:
        """For /admin/…: a token with the admin scope, as an operator gets one (`fhir-server token`)."""
        if self._admin_token is None:
            minted = self.cli("token", "--scope", "admin")
            assert minted.returncode == 0, minted.stderr
            self._admin_token = minted.stdout.strip().splitlines()[-1]
        return {"Authorization": f"Bearer {self._admin_token}"}

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """`python -m fhir_server ARGS --data-dir D`, with the server's address and Orthanc timeouts."""
        env = {
            **os.environ,
            "FHIR_HOST": "127.0.0.1",
            "FHIR_PORT": str(self.port),
            "FHIR_ORTHANC_CONNECT_TIMEOUT_SECONDS": str(CONNECT_TIMEOUT),
            "FHIR_ORTHANC_TIMEOUT_SECONDS": str(READ_TIMEOUT),
            "FHIR_LOG_FORMAT": "text",
            "FHIR_AUTH_MODE": "smart",
        }
        return subprocess.run(
            [sys.executable, "-m", "fhir_server", *args, "--data-dir", str(self.data_dir)],
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO_ROOT,
            timeout=timeout,
            check=False,
        )
