"""One secured server (FHIR_AUTH_MODE=smart) with the demo data and its three local Orthancs
(`serve --demo --local-orthanc`), dashboard users made with the CLI, and Debian's Chromium driven by
Playwright (never a downloaded browser: without /usr/bin/chromium the tests fail with the install hint)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from fhir_server.settings import Settings
from fhir_server.storage.connection import connect
from tests.chromium import chromium
from tests.fhir_server.dashboard.dashboard_support import ADMIN, CLINICIAN, DashboardServer
from tests.server_process import REPO_ROOT, start_server


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


@pytest.fixture(scope="session")
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


@pytest.fixture(scope="session")
def http(dashboard_server: DashboardServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=dashboard_server.origin, timeout=30, follow_redirects=False) as client:
        yield client


@pytest.fixture(scope="session")
def screenshots() -> Path:
    directory = Path(os.environ.get("DASHBOARD_SCREENSHOTS") or REPO_ROOT / "test-artifacts" / "dashboard")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


# Module scope: Playwright's sync API keeps an asyncio loop running in this thread while it is started, and
# tests elsewhere call asyncio.run() (a directory without __init__.py is no "package" for fixture scopes).
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium("the dashboard tests") as browser:
        yield browser


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
