"""The FHIR server run in this test process (uvicorn in a thread) and reached over real HTTP, so that a test
can install its own Authorizer — there is deliberately no setting or environment variable for that — and
call the sync engine directly; CLI commands run as subprocesses attached to its database.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from server_process import REPO_ROOT, free_port
from starlette.requests import Request

from fhir_server.api.services import Services
from fhir_server.app import create_app
from fhir_server.authz import Action
from fhir_server.settings import Settings

PATIENT_HEADER = "X-Test-Patient"
CONNECT_TIMEOUT = 2.0
READ_TIMEOUT = 2.0


class PatientCompartmentAuthorizer:
    """Stands in for SMART patient scopes: a request with `X-Test-Patient: Patient/x` may read only the
    ImagingStudies of that patient (and search, results then filtered); without the header, anything."""

    def allows(
        self, request: Request, action: Action, resource_type: str, resource: dict[str, Any] | None
    ) -> bool:
        patient = request.headers.get(PATIENT_HEADER)
        if patient is None:
            return True
        if resource is None:
            return action == "search"
        return resource_type == "ImagingStudy" and (resource.get("subject") or {}).get("reference") == patient


@dataclass
class InProcessServer:
    data_dir: Path
    port: int = field(default_factory=free_port)
    app: FastAPI | None = None
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None
    _admin_token: str | None = None

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
            # Anonymous requests get through authentication; the test Authorizer then decides.
            auth_mode="development",
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
        self.services.authorizer = PatientCompartmentAuthorizer()
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=60)

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
            "FHIR_AUTH_MODE": "development",
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
