"""One secured server (FHIR_AUTH_MODE=smart) with the demo data and its three local Orthancs
(`serve --demo --local-orthanc`), dashboard users made with the CLI, and Debian's Chromium driven by
Playwright (never a downloaded browser: without /usr/bin/chromium the tests fail with the install hint)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from server_process import REPO_ROOT, RunningServer, start_server

from fhir_server.auth.keys import KeyStore
from fhir_server.auth.tokens import Grant, mint_access_token
from fhir_server.auth.urls import Urls
from fhir_server.db import DatabaseConnection, connect
from fhir_server.settings import Settings

sys.path.insert(0, str(Path(__file__).parent))  # browser_steps

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ADMIN = ("ada", "ada-secret-pass")
CLINICIAN = ("carl", "carl-secret-pass")


@dataclass
class DashboardServer:
    running: RunningServer
    connection: DatabaseConnection

    @property
    def base_url(self) -> str:
        return self.running.base_url

    @property
    def origin(self) -> str:
        return self.base_url.removesuffix("/fhir")

    def url(self, path: str) -> str:
        return f"{self.origin}/{path.lstrip('/')}"

    def mint(self, scope: str, *, role: str | None = "clinician") -> str:
        grant = Grant("tester", scope, "test", None, None, role)
        token, _ = mint_access_token(KeyStore(self.connection.db), Urls.for_base(self.base_url), grant, 600)
        return token


def _add_user(data_dir: Path, username: str, password: str, role: str) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "fhir_server",
            "user",
            "add",
            username,
            "--data-dir",
            str(data_dir),
            "--role",
            role,
            "--password-stdin",
        ],
        input=password.encode(),
        check=True,
        cwd=REPO_ROOT,
        capture_output=True,
    )


@pytest.fixture(scope="package")
def dashboard_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashboardServer]:
    data_dir = tmp_path_factory.mktemp("dashboard") / "data"
    running = start_server(
        data_dir, "--demo", "--local-orthanc", env={"FHIR_AUTH_MODE": "smart"}, timeout=180
    )
    connection = connect(Settings(data_dir=data_dir), "cli")
    try:
        _add_user(data_dir, *ADMIN, "admin")
        _add_user(data_dir, *CLINICIAN, "clinician")
        yield DashboardServer(running, connection)
    finally:
        connection.close()
        running.stop()


@pytest.fixture(scope="package")
def http(dashboard_server: DashboardServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=dashboard_server.origin, timeout=30, follow_redirects=False) as client:
        yield client


@pytest.fixture(scope="package")
def screenshots() -> Path:
    directory = Path(os.environ.get("DASHBOARD_SCREENSHOTS") or REPO_ROOT / "test-artifacts" / "dashboard")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("the dashboard tests need the Debian chromium package: apt-get install chromium")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile per test (cookies and sessionStorage), on a desktop-sized window."""
    fresh = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB", timezone_id="UTC")
    fresh.set_default_timeout(20_000)
    yield fresh
    fresh.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    """A page that fails the test on any script error or Content-Security-Policy violation."""
    fresh = context.new_page()
    problems: list[str] = []
    fresh.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    fresh.on(
        "console",
        lambda message: (
            problems.append(f"console: {message.text}")
            if message.type == "error" and "Content Security Policy" in message.text
            else None
        ),
    )
    yield fresh
    fresh.close()
    assert not problems, problems
