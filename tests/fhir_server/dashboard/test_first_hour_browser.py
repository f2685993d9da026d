"""What a new user meets in the first hour, in headless Chromium against the demo federation: the signed-out
page, finding "John Doe", the study date range, paging, times with their zone, the date picker, sharing a
QR code (a warning, printing, and why a phone cannot open a loopback address) and the header on a phone."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from tests.fhir_server.dashboard.browser_steps import shot, sign_in, wait_for_image
from tests.fhir_server.dashboard.dashboard_support import CLINICIAN, DashboardServer

BARAKA = "legacy-pat-112233"


def test_signed_out_page_shows_no_null_and_no_signed_in_header(
    page: Page, dashboard_server: DashboardServer, screenshots: Path
) -> None:
    page.goto(dashboard_server.url("/app/"))
    expect(page.locator("#sign-in")).to_be_visible()
    text = page.inner_text("body")
    assert "null" not in text and "undefined" not in text, text
    assert "Signed in as" not in text
    expect(page.locator("#user")).to_be_hidden()
    expect(page.locator("#sign-out")).to_be_hidden()
    expect(page.locator("#nav")).to_be_hidden()
    shot(page, screenshots, "30-signed-out")


def test_a_first_and_family_name_finds_the_patient(page: Page, dashboard_server: DashboardServer) -> None:
    sign_in(page, dashboard_server.origin, *CLINICIAN, path="/app/patients")
    page.fill("#patient-search", "John Doe")
    page.click("form[role=search] button[type=submit]")
    results = page.locator("#patient-results")
    expect(results.locator("h2")).to_have_text("1 patient found for “John Doe”")
    expect(results.locator("table")).to_contain_text("John Doe")
    # Either order, any case: each word matches a part of the name.
    page.goto(dashboard_server.url("/app/patients?q=doe%20JOHN"))
    expect(page.locator("#patient-results h2")).to_have_text("1 patient found for “doe JOHN”")
    page.goto(dashboard_server.url("/app/patients?q=John%20Kimaro"))
    expect(page.locator("#patient-results h2")).to_have_text("0 patients found for “John Kimaro”")


def test_date_of_birth_is_a_date_picker(page: Page, dashboard_server: DashboardServer) -> None:
    sign_in(page, dashboard_server.origin, *CLINICIAN, path="/app/patients")
    birth = page.locator("#patient-form [name=birthDate]")
    expect(birth).to_have_attribute("type", "date")
    birth.fill("1985-03-12")
    expect(birth).to_have_value("1985-03-12")


def test_an_end_date_before_the_start_date_is_explained(
    page: Page, dashboard_server: DashboardServer
) -> None:
    sign_in(page, dashboard_server.origin, *CLINICIAN, path="/app/studies")
    form = page.locator("#study-filters")
    form.locator("[name=from]").fill("2024-05-01")
    form.locator("[name=to]").fill("2024-01-01")
    form.locator("button[type=submit]").click()
    to = form.locator("[name=to]")
    expect(to).to_have_attribute("aria-invalid", "true")
    error = page.locator(f"#{to.get_attribute('id')}-error")
    expect(error).to_contain_text("before the start date")
    # The same address typed or bookmarked says so too, instead of "no study".
    page.goto(dashboard_server.url("/app/studies?from=2024-05-01&to=2024-01-01"))
    expect(page.locator("#study-filters .field-error")).to_contain_text("before the start date")
    expect(page.locator("#studies")).to_contain_text("Fix the dates")


def test_load_more_is_hidden_when_everything_is_shown_and_times_have_their_zone(
    page: Page, dashboard_server: DashboardServer
) -> None:
    sign_in(page, dashboard_server.origin, *CLINICIAN, path="/app/studies")
    rows = page.locator("#studies-table tbody tr")
    expect(rows.first).to_be_visible()
    assert rows.count() >= 4  # the demo's studies, fewer than a page
    expect(page.get_by_role("button", name="Load more studies")).to_be_hidden()
    # The browser runs in UTC (the test context): the time says so.
    date_cell = rows.first.locator("td").first.inner_text()
    assert date_cell.endswith("UTC"), date_cell


def test_qr_code_has_a_warning_a_print_button_and_the_loopback_note(
    page: Page, dashboard_server: DashboardServer, screenshots: Path
) -> None:
    sign_in(page, dashboard_server.origin, *CLINICIAN, path=f"/app/patients/{BARAKA}")
    share = page.locator("section.share")
    share.locator("[name=label]").fill("For the referral")
    share.locator("button[type=submit]").click()
    qr = share.locator("#new-link")
    wait_for_image(qr.locator("img"))
    expect(qr.locator(".qr-warning")).to_contain_text("Anyone who scans this code")
    # The server's public base is 127.0.0.1 here: no phone can open what the code points to.
    note = qr.locator(".qr-loopback")
    expect(note).to_contain_text("127.0.0.1")
    expect(note).to_contain_text("FHIR_PUBLIC_BASE_URL")
    page.evaluate("() => { window.printCalls = 0; window.print = () => { window.printCalls += 1; }; }")
    qr.get_by_role("button", name="Print QR code").click()
    assert page.evaluate("() => window.printCalls") == 1
    # Only the QR block is printed: the page marks it for the print stylesheet.
    expect(page.locator("body.printing-qr #new-link.print-target")).to_have_count(1)
    page.emulate_media(media="print")
    expect(page.locator(".top-bar")).to_be_hidden()
    expect(qr.get_by_role("button", name="Print QR code")).to_be_hidden()
    shot(page, screenshots, "31-qr-print")


def test_on_a_phone_the_header_stays_small(
    browser: Browser, dashboard_server: DashboardServer, screenshots: Path
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-GB", timezone_id="UTC")
    page = context.new_page()
    try:
        sign_in(page, dashboard_server.origin, *CLINICIAN)
        header = page.locator("header.top-bar").bounding_box()
        assert header is not None
        assert header["height"] / 844 < 0.15, header
        expect(page.locator("#sign-out")).to_be_visible()
        shot(page, screenshots, "32-phone-overview")
    finally:
        context.close()


def test_api_docs_sign_in_with_the_smart_scheme(page: Page, dashboard_server: DashboardServer) -> None:
    """Swagger UI's Authorize: PKCE against this server's authorization server, as its own public client."""
    page.goto(dashboard_server.url("/docs"))
    page.click("button.authorize")
    modal = page.locator(".modal-ux-content")
    expect(modal).to_contain_text("authorizationCode with PKCE")
    with page.expect_popup() as opened:
        modal.locator(".auth-btn-wrapper button.authorize").click()
    popup = opened.value
    popup.wait_for_selector("#username")
    assert "code_challenge_method=S256" in popup.url and "aud=" in popup.url
    popup.fill("#username", CLINICIAN[0])
    popup.fill("#password", CLINICIAN[1])
    popup.click("form button.primary")
    expect(modal).to_contain_text("Authorized")  # the code was exchanged for a token
