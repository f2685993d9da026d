"""What the subscription tests run against: a secured server process (restartable on the same port, so
tokens stay valid for its FHIR base), a real Orthanc registered as a hospital, studies uploaded to it and
synced with the CLI (as an operator or the background sync would), and a loopback rest-hook receiver that
can be taken down and brought back on the same port."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from fhir_server.settings import Settings
from fhir_server.storage.connection import DatabaseConnection, connect
from fhir_server.subscriptions.spec import (
    FILTER_CRITERIA,
    HEARTBEAT_PERIOD,
    PAYLOAD_CONTENT,
)
from tests import server_process
from tests.fhir_server.dicomweb.dicom_samples import SamplePatient, SampleSeries, make_study, to_bytes
from tests.fhir_server.dicomweb.orthanc_process import PASSWORD, USER, OrthancServer
from tests.server_process import REPO_ROOT, RunningServer, SecuredServer, start_server

STUDY_TOPIC = "https://fhir.imaging-federation.example/SubscriptionTopic/imaging-study-available"
MERGE_TOPIC = "https://fhir.imaging-federation.example/SubscriptionTopic/patient-merged"
SHL_TOPIC = "https://fhir.imaging-federation.example/SubscriptionTopic/share-link-accessed"
HOSPITAL = "HOS-SUB"
ASTRID = SamplePatient(
    "SUB-1", "Berg^Astrid", "19700101", "F", national_id="197001011234", national_issuer="NIDA"
)
OLE = SamplePatient("SUB-2", "Lie^Ole", "19800202", "M", national_id="198002021234", national_issuer="NIDA")
NATIONAL_SYSTEM = "https://fhir.imaging-federation.example/sid/national-id"
ENV = {
    "FHIR_AUTH_MODE": "smart",
    "FHIR_LOG_FORMAT": "text",
    "FHIR_DICOMWEB_SYNC_INTERVAL_SECONDS": "0",  # the tests sync explicitly
    "FHIR_SUBSCRIPTION_RETRY_SECONDS": "0.25",
    "FHIR_SUBSCRIPTION_MAX_ATTEMPTS": "8",  # 0.25 + 0.5 + … + 16 s of retries (about 32 s), then error
}


def until(condition: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {seconds:.0f} s")


# -- the rest-hook receiver ---------------------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    bundle: dict[str, Any]
    at: float  # time.monotonic() on arrival
    wall: float = 0.0  # time.time() on arrival

    @property
    def status(self) -> dict[str, Any]:
        return {p["name"]: p for p in self.bundle["entry"][0]["resource"]["parameter"]}

    @property
    def kind(self) -> str:
        return str(self.status["type"]["valueCode"])

    @property
    def subscription(self) -> str:
        return str(self.status["subscription"]["valueReference"]["reference"]).rsplit("/", 1)[1]

    def events(self) -> list[tuple[int, str]]:
        """(event number, focus reference relative to the base) of each notification-event."""
        found = []
        for p in self.bundle["entry"][0]["resource"]["parameter"]:
            if p["name"] != "notification-event":
                continue
            parts = {part["name"]: part for part in p["part"]}
            focus = parts["focus"]["valueReference"]["reference"].split("/fhir/", 1)[1]
            found.append((int(parts["event-number"]["valueString"]), focus))
        return found


@dataclass
class Receiver:
    """Loopback HTTP server recording every POSTed notification; `/fail/…` answers 500."""

    port: int = field(default_factory=server_process.free_port)
    received: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str = "hook") -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if self.path.startswith("/fail"):
                    self.send_response(500)
                else:
                    with receiver._lock:
                        receiver.received.append(
                            Received(
                                self.path,
                                dict(self.headers.items()),
                                json.loads(body),
                                time.monotonic(),
                                time.time(),
                            )
                        )
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def of(self, subscription: str, kind: str | None = None) -> list[Received]:
        with self._lock:
            return [
                r
                for r in self.received
                if r.subscription == subscription and (kind is None or r.kind == kind)
            ]


# -- the server, the hospital, the studies ----------------------------------------------------------------


@dataclass
class World:
    root: Path
    port: int
    orthanc: OrthancServer
    receiver: Receiver
    running: RunningServer | None = None
    connection: DatabaseConnection | None = None

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def server(self) -> SecuredServer:
        assert self.running is not None and self.connection is not None
        return SecuredServer(self.running, self.connection)

    def start(self) -> World:
        patch = pytest.MonkeyPatch()
        patch.setattr(server_process, "free_port", lambda: self.port)
        try:
            self.running = start_server(self.data_dir, env=ENV)
        finally:
            patch.undo()
        self.connection = connect(Settings(data_dir=self.data_dir), "cli")
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None
        if self.running is not None:
            self.running.stop(sig)
            self.running = None

    def client(self, scope: str = "system/*.cruds", **claims: Any) -> httpx.Client:
        server = self.server
        return server.client(server.mint(scope, **claims))

    def cli(self, *args: str) -> str:
        env = {**os.environ, **ENV, "FHIR_HOST": "127.0.0.1", "FHIR_PORT": str(self.port)}
        result = subprocess.run(
            [sys.executable, "-m", "fhir_server", *args, "--data-dir", str(self.data_dir)],
            capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=180, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def register_hospital(self) -> None:
        self.cli(
            "hospital", "add", "--name", "Subscription Hospital", "--identifier", HOSPITAL,
            "--orthanc-url", self.orthanc.url, "--orthanc-user", USER, "--orthanc-password", PASSWORD,
            "--national-id-issuer", "NIDA",
        )  # fmt: skip

    def upload(
        self, patient: SamplePatient, accession: str, description: str, modality_file: str = "CT_small.dcm"
    ) -> None:
        study = make_study(
            patient, [SampleSeries(modality_file, 1)], description=description, accession=accession
        )
        for dataset in study:
            self.orthanc.store(to_bytes(dataset))

    def sync(self) -> float:
        """One sync pass of the hospital (the CLI, attached to the server's database); when it finished."""
        self.cli("sync", "--hospital", HOSPITAL)
        return time.monotonic()

    def study(self, description: str) -> dict[str, Any]:
        with self.client("system/*.rs", role=None) as http:
            bundle = http.get("/ImagingStudy", params={"_count": "200"}).json()
        found = [
            e["resource"] for e in bundle.get("entry", []) if e["resource"].get("description") == description
        ]
        assert len(found) == 1, f"{len(found)} studies described {description!r}"
        return found[0]


def subscription(
    topic: str = STUDY_TOPIC,
    filters: str | None = None,
    *,
    endpoint: str | None = None,
    channel: str = "rest-hook",
    content: str = "id-only",
    heartbeat: int | None = None,
    status: str = "requested",
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Subscription",
        "meta": {
            "profile": [
                "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription"
            ]
        },
        "status": status,
        "reason": "tests",
        "criteria": topic,
        "channel": {
            "type": channel,
            "payload": "application/fhir+json",
            "_payload": {"extension": [{"url": PAYLOAD_CONTENT, "valueCode": content}]},
        },
    }
    if filters is not None:
        body["_criteria"] = {"extension": [{"url": FILTER_CRITERIA, "valueString": filters}]}
    if endpoint is not None:
        body["channel"]["endpoint"] = endpoint
    if heartbeat is not None:
        body["channel"]["extension"] = [{"url": HEARTBEAT_PERIOD, "valueUnsignedInt": heartbeat}]
    return body
