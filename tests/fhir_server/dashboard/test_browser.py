"""The dashboard in headless Chromium against the demo federation: sign-in through our own SMART
authorization, status, hospitals, patients, studies, the federation view, the old addresses, and sharing as
a SMART Health Link whose QR code is read back from the page. Screenshots of every page go to
DASHBOARD_SCREENSHOTS (default test-artifacts/dashboard/)."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx
from playwright.sync_api import BrowserContext, Page, expect

from tests.fhir_server.dashboard.browser_steps import (
    loaded_images,
    no_horizontal_overflow,
    qr_from,
    session,
    shlink_payload,
    shot,
    sign_in,
    wait_for_image,
)
from tests.fhir_server.dashboard.dashboard_support import ADMIN, CLINICIAN, DashboardServer

JOHN = "legacy-pat-901234"
JOHN_NATIONAL_ID = "199012345678901234"


def _field_error(page: Page, form: str, name: str) -> str:
    """The error message shown next to a form field, checked to be tied to it for assistive technology."""
    control = page.locator(f"{form} [name={name}]")
    expect(control).to_have_attribute("aria-invalid", "true")
    error_id = control.get_attribute("id") + "-error"  # type: ignore[operator]
    assert error_id in (control.get_attribute("aria-describedby") or "").split()
    message = page.locator(f"#{error_id}")
    expect(message).to_be_visible()
    return message.inner_text()


def test_sign_in_by_keyboard_as_admin(
    page: Page, dashboard_server: DashboardServer, screenshots: Path
) -> None:
    page.goto(dashboard_server.url("/app/"))
    expect(page.locator("#sign-in")).to_be_visible()
    shot(page, screenshots, "01-sign-in")
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "sign-in":
            break
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/auth/authorize"))
    for _ in range(10):
        if page.evaluate("document.activeElement.id") == "username":
            break
        page.keyboard.press("Tab")
    page.keyboard.type(ADMIN[0])
    page.keyboard.press("Tab")
    page.keyboard.type(ADMIN[1])
    shot(page, screenshots, "02-login")
    page.keyboard.press("Enter")
    # Straight back to the dashboard: a first-party app of this server asks for no consent.
    expect(page.locator("#user-name")).to_have_text(ADMIN[0])
    expect(page.locator("#user-role")).to_have_text("admin")
    assert page.url == dashboard_server.url("/app/")
    assert "code=" not in page.url
    assert "admin" in session(page)["scope"]


def test_wrong_password_shows_an_error(
    page: Page, dashboard_server: DashboardServer, screenshots: Path
) -> None:
    page.goto(dashboard_server.url("/app/"))
    page.click("#sign-in")
    page.fill("#username", ADMIN[0])
    page.fill("#password", "not-the-password")
    page.click("form button.primary")
    error = page.locator("#login-error")
    expect(error).to_contain_text("not correct")
    expect(page.locator("#username")).to_have_attribute("aria-describedby", "login-error")
    shot(page, screenshots, "04-wrong-password")


def test_status_panel_shows_every_orthanc_and_the_counts(
    page: Page, dashboard_server: DashboardServer, screenshots: Path
) -> None:
    sign_in(page, dashboard_server.origin, *ADMIN)
    table = page.locator("#orthanc-status")
    expect(table).to_be_visible()
    expect(page.locator("#status-server .status")).to_have_text("up")
    expect(page.locator("#status-database .status")).to_have_text("up")
    for identifier in ("HOS-001", "HOS-002", "HOS-003"):
        row = table.locator("tr", has_text=identifier)
        expect(row.locator(".status")).to_have_text("up")
        expect(row.locator("td").nth(3)).to_have_text(re.compile(r"^\d+\.\d+"))  # Orthanc version
        expect(row.locator("td").nth(4)).to_have_text(re.compile(r"ms$"))  # latency
    assert int(page.inner_text("#count-hospitals .value")) >= 3
    assert int(page.inner_text("#count-patients .value")) >= 3
    assert int(page.inner_text("#count-studies .value")) >= 4
    shot(page, screenshots, "05-overview")


def test_clinician_sees_no_admin_actions_and_the_server_refuses_them(
    page: Page, dashboard_server: DashboardServer, screenshots: Path
) -> None:
    sign_in(page, dashboard_server.origin, *CLINICIAN)
    expect(page.locator("#user-role")).to_have_text("clinician")
    token = session(page)["accessToken"]
    assert "admin" not in session(page)["scope"]
    page.click("nav a[data-section=hospitals]")
    expect(page.locator("#hospitals-table")).to_be_visible()
    expect(page.locator("#hospital-form")).to_have_count(0)
    # PACS state is for operators (/health/orthanc needs the admin scope): a clinician is told so.
    expect(page.locator("#hospitals-table .status").first).to_have_text("operators only")
    page.click("#hospitals-table a:has-text('General Hospital')")
    expect(page.locator("#hospital-facts")).to_be_visible()
    expect(page.locator("#hospital-edit-form")).to_have_count(0)
    shot(page, screenshots, "06-hospital-as-clinician")
    headers = {"Authorization": f"Bearer {token}"}
    listed = httpx.get(dashboard_server.url("/admin/hospitals"), headers=headers, timeout=30)
    assert listed.status_code == 403, listed.text
    body = {"name": "Sneaky", "identifier": "HOS-666", "orthancUrl": "http://127.0.0.1:9"}
    added = httpx.post(dashboard_server.url("/admin/hospitals"), json=body, headers=headers, timeout=30)
    assert added.status_code == 403
    assert added.json()["resourceType"] == "OperationOutcome"


def test_register_and_edit_a_hospital(
    page: Page, dashboard_server: DashboardServer, screenshots: Path
) -> None:
    sign_in(page, dashboard_server.origin, *ADMIN, path="/app/hospitals")
    form = "#hospital-form"
    page.fill(f"{form} [name=identifier]", "HOS-900")
    page.fill(f"{form} [name=orthancUrl]", "http://127.0.0.1:9")
    page.click(f"{form} button[type=submit]")
    assert "name" in _field_error(page, form, "name")
    assert page.evaluate("document.activeElement.name") == "name"
    shot(page, screenshots, "07-hospital-field-error")
    # An error found by the server (OperationOutcome expression) lands next to its field too.
    page.fill(f"{form} [name=name]", "Lakeside Clinic")
    page.fill(f"{form} [name=orthancUrl]", "ftp://pacs.example")
    page.click(f"{form} button[type=submit]")
    assert "URL" in _field_error(page, form, "orthancUrl")
    expect(page.locator(f"{form} [name=name]")).not_to_have_attribute("aria-invalid", "true")
    page.fill(f"{form} [name=orthancUrl]", "http://127.0.0.1:9")
    page.click(f"{form} button[type=submit]")
    # Nothing listens on port 9: the server's connection check refuses it, naming the field...
    assert "not reachable" in _field_error(page, form, "orthancUrl")
    # ...unless the admin saves anyway (a PACS down for maintenance).
    page.check(f"{form} [name=allowOffline]")
    page.click(f"{form} button[type=submit]")
    page.wait_for_url(re.compile(r"/app/hospitals/[^/?]+\?registered=1"))
    expect(page.locator("h1")).to_have_text("Lakeside Clinic")
    expect(page.locator("#hospital-facts")).to_contain_text("HOS-900")
    shot(page, screenshots, "08-hospital-registered")
    edit = "#hospital-edit-form"
    expect(page.locator(f"{edit} [name=orthancUrl]")).to_have_value("http://127.0.0.1:9")
    page.fill(f"{edit} [name=name]", "Lakeside District Clinic")
    page.click(f"{edit} button[type=submit]")
    expect(page.locator(".notice.success")).to_contain_text("Saved")
    expect(page.locator("h1")).to_have_text("Lakeside District Clinic")
    page.click("nav a[data-section=hospitals]")
    row = page.locator("#hospitals-table tr", has_text="HOS-900")
    expect(row).to_contain_text("Lakeside District Clinic")
    expect(row.locator(".status").first).to_have_text("down")  # nothing listens on port 9
    shot(page, screenshots, "09-hospitals")


def test_register_a_patient_with_field_errors_and_a_duplicate(
    page: Page, dashboard_server: DashboardServer, screenshots: Path
) -> None:
    sign_in(page, dashboard_server.origin, *ADMIN, path="/app/patients")
    form = "#patient-form"
    national_id = str(uuid.uuid4().int)[:18]
    page.fill(f"{form} [name=nationalId]", national_id)
    page.fill(f"{form} [name=family]", "Mollel")
    page.fill(f"{form} [name=given]", "Neema Grace")
    # A date picker cannot hold 1990-02-30; a date in the future is refused next to the field.
    page.fill(f"{form} [name=birthDate]", "2999-01-01")
    page.select_option(f"{form} [name=gender]", "female")
    page.fill(f"{form} [name=phone]", "+255700000001")
    page.click(f"{form} button[type=submit]")
    assert "cannot be in the future" in _field_error(page, form, "birthDate")
    assert page.evaluate("document.activeElement.name") == "birthDate"
    shot(page, screenshots, "10-patient-field-error")
    page.fill(f"{form} [name=birthDate]", "1990-02-28")
    page.click(f"{form} button[type=submit]")
    page.wait_for_url(re.compile(r"/app/patients/[^/?]+\?registered=1"))
    expect(page.locator("h1")).to_have_text("Neema Grace Mollel")
    expect(page.locator("#patient-facts")).to_contain_text(national_id)
    expect(page.locator("#patient-facts")).to_contain_text("1990-02-28")
    shot(page, screenshots, "11-patient-registered")

    page.click("nav a[data-section=patients]")
    page.fill(f"{form} [name=nationalId]", JOHN_NATIONAL_ID)
    page.fill(f"{form} [name=family]", "Doe")
    page.click(f"{form} button[type=submit]")
    message = _field_error(page, form, "nationalId")
    assert "already registered" in message and "John Doe" in message
    existing = page.locator(f"{form} .field-error a")
    expect(existing).to_have_attribute("href", f"/app/patients/{JOHN}")
    shot(page, screenshots, "12-patient-duplicate")


def test_find_a_patient_by_national_id_and_see_the_federation_view(
    page: Page, dashboard_server: DashboardServer, screenshots: Path
) -> None:
    sign_in(page, dashboard_server.origin, *CLINICIAN, path="/app/patients")
    page.fill("#patient-search", JOHN_NATIONAL_ID)
    page.keyboard.press("Enter")
    results = page.locator("#patient-results table")
    expect(results.locator("tbody tr")).to_have_count(1)
    shot(page, screenshots, "13-patient-search")
    results.locator("a", has_text="John Doe").click()
    page.wait_for_url(re.compile(f"/app/patients/{JOHN}$"))
    groups = page.locator("#patient-studies .hospital-group")
    expect(groups).to_have_count(2)
    hospitals = sorted(groups.nth(i).get_attribute("data-hospital") or "" for i in range(2))
    assert hospitals == ["legacy-hos-001", "legacy-hos-002"]
    expect(page.locator("#patient-studies .study-card")).to_have_count(2)
    expect(page.locator("#patient-studies .thumb img.loaded")).to_have_count(2)
    assert all(width > 0 for width in loaded_images(page, "#patient-studies .thumb img"))
    shot(page, screenshots, "14-patient")


def test_study_page_shows_series_images_and_a_study_qr(
    page: Page, dashboard_server: DashboardServer, screenshots: Path
) -> None:
    sign_in(page, dashboard_server.origin, *CLINICIAN, path="/app/studies/legacy-stu-20240220091500")
    expect(page.locator("#study-facts")).to_contain_text("John Doe")
    expect(page.locator("#study-facts")).to_contain_text("Regional Referral Hospital")
    series = page.locator("#series .series")
    assert series.count() >= 1
    counts = [re.search(r"(\d+) images?", series.nth(i).inner_text()) for i in range(series.count())]
    total = sum(int(found.group(1)) for found in counts if found)
    expect(page.locator("#series .thumb img.loaded")).to_have_count(min(total, 8 * series.count()))
    assert all(width > 0 for width in loaded_images(page, "#series .thumb img"))
    share = page.locator("section.share")
    share.locator("[name=passcode]").fill("")
    with page.expect_response(lambda r: r.url.endswith("/$shl") and r.request.method == "POST") as created:
        share.locator("button[type=submit]").click()
    viewer_url = next(p["valueUrl"] for p in created.value.json()["parameter"] if p["name"] == "viewerUrl")
    qr = share.locator("#new-link img")
    expect(qr).to_be_visible()
    wait_for_image(qr)
    assert qr_from(qr) == viewer_url
    expect(share.locator(".links-table tbody tr")).to_have_count(1)
    expect(share.locator(".links-table")).to_contain_text("One study")
    shot(page, screenshots, "15-study")


def test_studies_list_filters_by_modality_hospital_and_date(
    page: Page, dashboard_server: DashboardServer, screenshots: Path
) -> None:
    sign_in(page, dashboard_server.origin, *CLINICIAN, path="/app/studies")

    def shown() -> list[str]:
        page.wait_for_selector("#studies table, #studies p.muted")
        return sorted(
            page.eval_on_selector_all("#studies tbody tr", "rows => rows.map(r => r.dataset.study)")
        )

    assert {
        "legacy-stu-20240115103000",
        "legacy-stu-20240220091500",
        "legacy-stu-20240305140000",
        "legacy-stu-20240410080000",
    } <= set(shown())
    page.select_option("#study-filters [name=modality]", "CT")
    page.click("#study-filters button[type=submit]")
    page.wait_for_url(re.compile(r"modality=CT"))
    assert shown() == ["legacy-stu-20240220091500"]
    page.click("#clear-filters")
    page.wait_for_url(re.compile(r"/app/studies$"))
    page.select_option("#study-filters [name=hospital]", "legacy-hos-001")
    page.click("#study-filters button[type=submit]")
    page.wait_for_url(re.compile(r"hospital=legacy-hos-001"))
    assert shown() == ["legacy-stu-20240115103000", "legacy-stu-20240410080000"]
    shot(page, screenshots, "16-studies-by-hospital")
    page.goto(dashboard_server.url("/app/studies?from=2024-03-01&to=2024-03-31"))
    assert shown() == ["legacy-stu-20240305140000"]
    expect(page.locator("#study-filters [name=from]")).to_have_value("2024-03-01")
    shot(page, screenshots, "17-studies-by-date")


def test_federation_search_from_the_old_address_lists_the_consulted_hospitals(
    page: Page, dashboard_server: DashboardServer, screenshots: Path
) -> None:
    sign_in(page, dashboard_server.origin, *CLINICIAN)
    page.goto(dashboard_server.url(f"/federation-access?national_id={JOHN_NATIONAL_ID}"))
    page.wait_for_url(re.compile(rf"/app/federation\?national_id={JOHN_NATIONAL_ID}$"))
    consulted = page.locator("#consulted-table")
    expect(consulted).to_be_visible()
    found = {
        name: consulted.locator("tr", has_text=name).locator("td").last.inner_text()
        for name in ("General Hospital", "Regional Referral Hospital", "Coastal Imaging Centre")
    }
    assert found == {
        "General Hospital": "1",
        "Regional Referral Hospital": "1",
        "Coastal Imaging Centre": "0",
    }
    expect(page.locator("#federation-results .study-card")).to_have_count(2)
    expect(page.locator("#federation-results")).to_contain_text("John Doe")
    shot(page, screenshots, "18-federation")


def test_old_addresses_lead_to_the_new_pages(page: Page, dashboard_server: DashboardServer) -> None:
    sign_in(page, dashboard_server.origin, *CLINICIAN)
    page.goto(dashboard_server.url("/dashboard"))
    page.wait_for_url(dashboard_server.url("/app/"))
    expect(page.locator("h1")).to_have_text("Overview")
    page.goto(dashboard_server.url("/patient-access/PAT-901234"))
    page.wait_for_url(re.compile(f"/app/patients/{JOHN}$"))  # the old id resolved to the patient
    expect(page.locator("h1")).to_have_text("John Doe")
    page.goto(dashboard_server.url("/patient-access/legacy-pat-567890"))
    expect(page.locator("h1")).to_have_text("Amina Mwakyusa")


def test_share_a_patient_link_read_its_qr_code_see_its_log_and_revoke_it(
    page: Page, dashboard_server: DashboardServer, screenshots: Path
) -> None:
    sign_in(page, dashboard_server.origin, *CLINICIAN, path=f"/app/patients/{JOHN}")
    share = page.locator("section.share")
    share.locator("[name=label]").fill("For Dr Smith")
    share.locator("[name=passcode]").fill("4711")
    share.locator("[name=expires]").select_option("30")
    expect(share.locator("[name=imageAccess]")).to_be_checked()
    with page.expect_response(lambda r: r.url.endswith("/$shl") and r.request.method == "POST") as created:
        share.locator("button[type=submit]").click()
    assert created.value.status == 201
    answer = {
        p["name"]: next(v for k, v in p.items() if k.startswith("value"))
        for p in created.value.json()["parameter"]
    }
    wait_for_image(share.locator("#new-link img"))
    shot(page, screenshots, "19-share-created")
    decoded = qr_from(share.locator("#new-link img"))
    assert decoded == answer["viewerUrl"]
    expect(share.locator("#new-link .shl-url")).to_have_value(decoded)
    payload = shlink_payload(decoded)
    assert set(payload["flag"]) == {"P"}
    assert payload["label"] == "For Dr Smith"

    row = share.locator(f".links-table tr[data-link='{answer['id']}']")
    expect(row).to_contain_text("For Dr Smith")
    expect(row.locator(".status")).to_have_text("active")
    expect(row).to_contain_text("passcode")
    expect(row).to_contain_text("images")
    # The listed link's own QR code (the API's `qr`) is the same link.
    row.locator("button", has_text="QR code").click()
    wait_for_image(share.locator("#link-qr img"))
    assert qr_from(share.locator("#link-qr img")) == decoded

    manifest = httpx.post(
        payload["url"], json={"recipient": "Dr Smith's clinic", "passcode": "4711"}, timeout=30
    )
    assert manifest.status_code == 200, manifest.text
    row.locator("button", has_text="Access log").click()
    log = share.locator(f"tr.log-row[data-log-for='{answer['id']}'] table")
    expect(log).to_contain_text("Dr Smith's clinic")
    expect(log).to_contain_text("opened")
    shot(page, screenshots, "20-share-log")

    row.locator("button", has_text="Revoke").click()
    row.locator("button", has_text="Yes, revoke").click()
    expect(share.locator(f".links-table tr[data-link='{answer['id']}'] .status")).to_have_text("revoked")
    gone = httpx.post(payload["url"], json={"recipient": "again", "passcode": "4711"}, timeout=30)
    assert gone.status_code == 404
    shot(page, screenshots, "21-share-revoked")


def test_phone_viewport_has_no_horizontal_scrolling(
    context: BrowserContext, dashboard_server: DashboardServer, screenshots: Path
) -> None:
    phone = context.browser.new_context(  # type: ignore[union-attr]
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    try:
        page = phone.new_page()
        sign_in(page, dashboard_server.origin, *CLINICIAN)
        for path, ready in (
            ("/app/", "#orthanc-status"),
            (f"/app/patients/{JOHN}", "#patient-studies .study-card"),
            ("/app/studies", "#studies-table"),
            (f"/app/federation?national_id={JOHN_NATIONAL_ID}", "#consulted-table"),
        ):
            page.goto(dashboard_server.url(path))
            page.wait_for_selector(ready)
            assert no_horizontal_overflow(page), f"{path} scrolls sideways on a phone"
            shot(
                page,
                screenshots,
                "22-phone-" + (path.strip("/").split("?")[0].replace("/", "-") or "overview"),
            )
    finally:
        phone.close()


def test_skip_link_and_sign_out_revokes_the_tokens(
    page: Page, dashboard_server: DashboardServer, screenshots: Path
) -> None:
    sign_in(page, dashboard_server.origin, *CLINICIAN)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "skip-link"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    token = session(page)["accessToken"]
    fhir = dashboard_server.base_url
    assert (
        httpx.get(f"{fhir}/Patient", headers={"Authorization": f"Bearer {token}"}, timeout=30).status_code
        == 200
    )
    with page.expect_response(lambda r: r.url.endswith("/auth/revoke")):
        page.click("#sign-out")
    expect(page.locator("#sign-in")).to_be_visible()
    expect(page.locator("main")).to_contain_text("You have signed out")
    assert page.evaluate("sessionStorage.getItem('fhir-dashboard.session')") is None
    assert (
        httpx.get(f"{fhir}/Patient", headers={"Authorization": f"Bearer {token}"}, timeout=30).status_code
        == 401
    )
    shot(page, screenshots, "23-signed-out")


def test_sign_in_is_refused_with_a_reason_outside_a_secure_context(
    page: Page, dashboard_server: DashboardServer
) -> None:
    # As on plain http from another machine: no WebCrypto for PKCE, and tokens would travel in clear.
    page.add_init_script("Object.defineProperty(window, 'isSecureContext', {get: () => false})")
    page.goto(dashboard_server.url("/app/"))
    expect(page.locator("#sign-in")).to_be_disabled()
    expect(page.get_by_role("alert")).to_contain_text("needs a secure connection")
