"""The bundled OHIF Viewer in Debian's Chromium against the demo (real Orthancs, secured server), as a
radiologist and a patient use it. Every request to an address other than loopback fails the test (the
viewer's shipped configuration points at a public demo server: it must never be contacted)."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from PIL import Image, ImageChops, ImageStat
from playwright.sync_api import BrowserContext, Locator, Page, Request, Route, expect

from fhir_server.demo.dataset import fhir_id_of
from fhir_server.settings import Settings
from fhir_server.viewer import installed_version, viewer_dir
from tests.fhir_server.dashboard.browser_steps import shot, sign_in
from tests.fhir_server.dashboard.dashboard_support import CLINICIAN, DashboardServer

JOHN = "legacy-pat-901234"
CT = fhir_id_of("STU-20240220091500")
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


@pytest.fixture(scope="module", autouse=True)
def viewer_installed() -> None:
    if installed_version(viewer_dir(Settings())) is None:
        pytest.fail("the viewer tests need the viewer: run `fhir-server install-viewer`", pytrace=False)


def _guard(context: BrowserContext) -> list[str]:
    """Aborts, and records, every request of the context that leaves loopback."""
    outside: list[str] = []

    def check(route: Route, request: Request) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in ("data", "blob") or parts.hostname in LOOPBACK:
            route.continue_()
        else:
            outside.append(request.url)
            route.abort()

    context.route("**/*", check)
    return outside


@pytest.fixture
def guarded(context: BrowserContext) -> Iterator[list[str]]:
    outside = _guard(context)
    yield outside
    assert not outside, f"requests left loopback: {outside[:5]}"


def _viewport(page: Page) -> Locator:
    """The first image viewport of the viewer (cornerstone's canvas)."""
    canvas = page.locator("div.viewport-element canvas, .cornerstone-canvas").first
    expect(canvas).to_be_visible(timeout=60_000)
    return canvas


def _image(canvas: Locator) -> Image.Image:
    return Image.open(io.BytesIO(canvas.screenshot())).convert("L")


def _shows_an_image(canvas: Locator, timeout: float = 60) -> Image.Image:
    """Waits until the viewport shows a picture: pixels that are not all alike."""
    deadline = time.monotonic() + timeout
    while True:
        picture = _image(canvas)
        if ImageStat.Stat(picture).stddev[0] > 8:
            return picture
        assert time.monotonic() < deadline, "the viewport stayed blank"
        time.sleep(0.5)


def _study_uids(page: Page) -> set[str]:
    query = parse_qs(urlsplit(page.url).query)
    return set(",".join(query.get("StudyInstanceUIDs", [])).split(","))


def test_open_the_ct_scroll_through_its_slices(
    page: Page, guarded: list[str], dashboard_server: DashboardServer, screenshots: Path
) -> None:
    sign_in(page, dashboard_server.origin, *CLINICIAN, path=f"/app/studies/{CT}")
    page.locator("#open-in-viewer").click()
    page.wait_for_url("**/viewer/viewer?**", timeout=30_000)
    canvas = _viewport(page)
    first = _shows_an_image(canvas)
    shot(page, screenshots, "viewer-01-ct")
    expect(page.get_by_text("Scrolling Through Images")).to_have_count(0)  # no tour over the images
    canvas.hover()
    page.mouse.wheel(0, 120)
    deadline = time.monotonic() + 20
    while True:
        time.sleep(0.5)
        after = _image(canvas)
        if ImageChops.difference(first, after).getbbox() is not None:
            break
        assert time.monotonic() < deadline, "scrolling did not change the image"
        page.mouse.wheel(0, 120)
    assert ImageStat.Stat(after).stddev[0] > 8
    shot(page, screenshots, "viewer-02-ct-next-slice")


def _study_uid_of(dashboard_server: DashboardServer, study_id: str) -> str:
    with dashboard_server.client(dashboard_server.mint("system/*.rs", role=None)) as client:
        study = client.get(f"/ImagingStudy/{study_id}").json()
    (uid,) = [i["value"] for i in study["identifier"] if i.get("system") == "urn:dicom:uid"]
    return str(uid).removeprefix("urn:oid:")


def test_compare_with_priors_opens_every_study_of_the_patient(
    page: Page, guarded: list[str], dashboard_server: DashboardServer, screenshots: Path
) -> None:
    sign_in(page, dashboard_server.origin, *CLINICIAN, path=f"/app/patients/{JOHN}")
    page.locator("#compare-with-priors").click()
    page.wait_for_url("**/viewer/viewer?**", timeout=30_000)
    xray = fhir_id_of("STU-20240115103000")
    # John Doe's X-ray at HOS-001 and CT at HOS-002, in one session.
    assert _study_uids(page) == {_study_uid_of(dashboard_server, CT), _study_uid_of(dashboard_server, xray)}
    _shows_an_image(_viewport(page))
    for description in ("CT Head without contrast", "Chest X-Ray"):
        expect(page.get_by_text(description).first).to_be_visible(timeout=30_000)
    shot(page, screenshots, "viewer-03-priors")


def test_an_iid_url_signs_in_and_opens_the_study(
    page: Page, guarded: list[str], dashboard_server: DashboardServer
) -> None:
    uid = _study_uid_of(dashboard_server, CT)
    page.goto(
        f"{dashboard_server.origin}/viewer/IHEInvokeImageDisplay?requestType=STUDY&accessionNumber=20240220091500"
    )
    # Not signed in: the server's own login page, then straight back to the study.
    page.fill("#username", CLINICIAN[0])
    page.fill("#password", CLINICIAN[1])
    page.click("form button.primary")
    page.wait_for_url("**/viewer/viewer?**", timeout=30_000)
    assert _study_uids(page) == {uid}
    _shows_an_image(_viewport(page))
    # By our Patient id or the national ID, the same patient's studies.
    for patient in (JOHN, "199012345678901234"):
        page.goto(
            f"{dashboard_server.origin}/viewer/IHEInvokeImageDisplay?requestType=PATIENT&patientID={patient}"
        )
        page.wait_for_url("**/viewer/viewer?**", timeout=30_000)
        assert uid in _study_uids(page) and len(_study_uids(page)) == 2
    page.goto(f"{dashboard_server.origin}/viewer/IHEInvokeImageDisplay?requestType=STUDY&studyUID=1.2.3.4")
    expect(page.locator("#status")).to_contain_text("No imaging study you may see")


def test_a_health_link_with_image_access_opens_the_viewer_on_a_phone(
    browser_phone: BrowserContext, dashboard_server: DashboardServer, screenshots: Path
) -> None:
    with dashboard_server.client(dashboard_server.mint("user/*.cruds")) as clinician:
        created = clinician.post(
            f"/ImagingStudy/{CT}/$shl",
            json={"resourceType": "Parameters", "parameter": [{"name": "imageAccess", "valueBoolean": True}]},
        )
    assert created.status_code == 201, created.text
    viewer_url = next(p["valueUrl"] for p in created.json()["parameter"] if p["name"] == "viewerUrl")
    page = browser_phone.new_page()
    page.goto(viewer_url)  # no account, no sign-in: the link is the access
    page.locator("#open-viewer").click()
    page.wait_for_url("**/viewer/viewer?**", timeout=30_000)
    assert _study_uids(page) == {_study_uid_of(dashboard_server, CT)}
    _shows_an_image(_viewport(page))
    shot(page, screenshots, "viewer-04-shl-phone")
    page.close()


@pytest.fixture
def browser_phone(context: BrowserContext, guarded: list[str]) -> Iterator[BrowserContext]:
    """A phone-sized context with the same loopback guard (the guard is on `context`: reuse its browser)."""
    assert context.browser is not None
    phone = context.browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    phone.set_default_timeout(20_000)
    outside = _guard(phone)
    yield phone
    phone.close()
    assert not outside, f"requests left loopback: {outside[:5]}"
