"""The dashboard updates live (Chromium): a clinician has the studies page, or a patient's page, open; a sync
brings a new study; the page shows it without reloading (the dashboard's websocket subscription)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from tests.chromium import chromium
from tests.fhir_server.dashboard.browser_steps import sign_in
from tests.fhir_server.subscriptions.harness import ASTRID, World
from tests.server_process import REPO_ROOT

USER = ("dana", "dana-secret-pass")


@pytest.fixture(scope="module")
def page(world: World) -> Iterator[Page]:
    subprocess.run(
        [sys.executable, "-m", "fhir_server", "user", "add", USER[0], "--data-dir", str(world.data_dir),
         "--role", "clinician", "--password-stdin"],
        input=USER[1].encode(), check=True, cwd=REPO_ROOT, capture_output=True,
    )  # fmt: skip
    browser: Browser
    with chromium("the live dashboard test") as browser:
        context = browser.new_context()
        opened = context.new_page()
        sign_in(opened, world.server.origin, *USER, path="/app/studies")
        yield opened
        context.close()


def _live(page: Page) -> None:
    page.wait_for_selector("html[data-live='connected']", state="attached", timeout=20_000)
    page.evaluate("window.__sameDocument = 'yes'")


def test_the_studies_page_shows_a_synced_study_without_reloading(world: World, page: Page) -> None:
    page.wait_for_selector("#studies table", timeout=20_000)
    _live(page)
    world.upload(ASTRID, "ACC-LIVE-1", "Live CT of Astrid")
    world.sync()
    page.wait_for_selector("#studies >> text=Live CT of Astrid", timeout=20_000)
    assert page.evaluate("window.__sameDocument") == "yes"


def test_the_patient_page_shows_a_synced_study_without_reloading(
    world: World, page: Page, astrid: str
) -> None:
    page.goto(f"{world.server.origin}/app/patients/{astrid}")
    page.wait_for_selector("main h1", timeout=20_000)
    _live(page)
    world.upload(ASTRID, "ACC-LIVE-2", "Live MR of Astrid", "MR_small.dcm")
    world.sync()
    page.wait_for_selector("main >> text=Live MR of Astrid", timeout=20_000)
    assert page.evaluate("window.__sameDocument") == "yes"


def test_the_overview_counts_a_synced_study_without_reloading(world: World, page: Page) -> None:
    page.goto(f"{world.server.origin}/app/")
    page.wait_for_selector("#counts >> text=/\\d/", timeout=20_000)
    _live(page)
    before = page.inner_text("#counts")
    world.upload(ASTRID, "ACC-LIVE-3", "Live X-ray of Astrid")
    world.sync()
    page.wait_for_function(
        "(before) => document.querySelector('#counts').innerText !== before", arg=before, timeout=20_000
    )
    assert page.evaluate("window.__sameDocument") == "yes"
