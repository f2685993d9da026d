"""The viewer page (/shl/viewer) in headless Chromium (Debian's /usr/bin/chromium, never a downloaded
browser): from the QR code's text to the rendered patient and studies grouped by hospital."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.chromium import chromium
from tests.fhir_server.shl.shl_client import create, qr_text
from tests.server_process import SecuredServer


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium("the viewer test") as browser:
        yield browser


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    """A fresh page per test: going to the same page with another `#fragment` would not reload it."""
    fresh = browser.new_page()  # type: ignore[attr-defined]
    yield fresh
    fresh.close()


def test_viewer_opens_a_qr_code_link(page: object, clinician: httpx.Client) -> None:
    created = create(clinician, "Patient/legacy-pat-901234", label="Knee MRI for Dr Smith")
    url = qr_text(clinician.get(created["qr"]).content)
    assert url == created["viewerUrl"]
    page.goto(url)  # type: ignore[attr-defined]
    page.wait_for_selector(".study-title", timeout=15_000)  # type: ignore[attr-defined]
    assert page.inner_text("#label") == "Knee MRI for Dr Smith"  # type: ignore[attr-defined]
    assert page.inner_text(".patient-name").strip()  # type: ignore[attr-defined]
    assert page.locator(".study").count() == 2  # type: ignore[attr-defined]
    assert page.locator(".hospital-name").count() >= 1  # type: ignore[attr-defined]


def test_viewer_asks_for_the_passcode(page: object, clinician: httpx.Client) -> None:
    created = create(clinician, "ImagingStudy/legacy-stu-20240115103000", passcode="4711")
    page.goto(created["viewerUrl"])  # type: ignore[attr-defined]
    page.fill("#passcode", "0000")  # type: ignore[attr-defined]
    page.click("#passcode-form button")  # type: ignore[attr-defined]
    page.wait_for_selector("#passcode-error:has-text('attempts left')")  # type: ignore[attr-defined]
    page.fill("#passcode", "4711")  # type: ignore[attr-defined]
    page.click("#passcode-form button")  # type: ignore[attr-defined]
    page.wait_for_selector(".study-title", timeout=15_000)  # type: ignore[attr-defined]
    assert page.locator(".study").count() == 1  # type: ignore[attr-defined]


def test_viewer_cannot_be_framed(page: object, clinician: httpx.Client, shl_server: SecuredServer) -> None:
    viewer = shl_server.origin + "/shl/viewer"
    for url in (viewer, viewer + "/viewer.js"):
        answer = httpx.get(url, timeout=30)
        assert answer.status_code == 200
        assert answer.headers["x-frame-options"] == "DENY"
        policy = [p.strip() for p in answer.headers["content-security-policy"].split(";")]
        assert "frame-ancestors 'none'" in policy
    # And a browser honours it: a page of another origin that frames the viewer gets no viewer in the frame.
    created = create(clinician, "Patient/legacy-pat-901234", label="framed?")
    with httpx.Client() as plain:
        assert plain.get(created["viewerUrl"]).status_code == 200  # the same URL opens on its own
    page.set_content(f'<iframe id="framed" src="{created["viewerUrl"]}"></iframe>')  # type: ignore[attr-defined]
    page.wait_for_timeout(3_000)  # type: ignore[attr-defined]
    framed = [f for f in page.frames if f != page.main_frame]  # type: ignore[attr-defined]
    assert len(framed) == 1
    assert framed[0].query_selector("#status") is None
    assert framed[0].query_selector(".study-title") is None
