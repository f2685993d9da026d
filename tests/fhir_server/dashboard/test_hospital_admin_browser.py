"""Hospital administration as a hospital IT admin does it, in Chromium against the demo federation: saving a
hospital without touching anything keeps its Orthanc password and national-ID issuers (its images still
load), a wrong password is shown next to its field and not saved, the identity rules are edited in the form,
"Sync now" shows its progress and result, and the federation page says how fresh each hospital's data is and
warns of an unreachable PACS."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from fhir_server.demo.dicom_samples import SamplePatient, SampleSeries, make_study, to_bytes
from fhir_server.demo.local_hospitals import DIRECTORY
from tests.fhir_server.dashboard.browser_steps import loaded_images, shot, sign_in
from tests.fhir_server.dashboard.dashboard_support import ADMIN, CLINICIAN, DashboardServer

JOHN_NATIONAL_ID = "199012345678901234"
CT_STUDY = "legacy-stu-20240220091500"  # at HOS-002, Regional Referral Hospital


def _admin(server: DashboardServer) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.mint('admin', role='admin')}"}


def _registered(server: DashboardServer, identifier: str) -> dict[str, Any]:
    listed = httpx.get(server.url("/admin/hospitals"), headers=_admin(server), timeout=30).json()
    found: dict[str, Any] = next(h for h in listed["hospitals"] if h["identifier"] == identifier)
    return found


def _wado_works(server: DashboardServer, study_id: str) -> bool:
    headers = {"Authorization": f"Bearer {server.mint('user/*.rs')}"}
    study = httpx.get(f"{server.base_url}/ImagingStudy/{study_id}", headers=headers, timeout=30).json()
    endpoint = httpx.get(
        f"{server.base_url}/{study['endpoint'][0]['reference']}", headers=headers, timeout=30
    )
    uid = next(i["value"] for i in study["identifier"] if i["system"] == "urn:dicom:uid")
    metadata = httpx.get(
        f"{endpoint.json()['address']}/studies/{uid.removeprefix('urn:oid:')}/metadata",
        headers=headers,
        timeout=30,
    )
    return metadata.status_code == 200


def _field_error(page: Page, form: str, name: str) -> str:
    control = page.locator(f"{form} [name={name}]")
    expect(control).to_have_attribute("aria-invalid", "true")
    return page.locator(f"#{control.get_attribute('id')}-error").inner_text()


def test_saving_a_hospital_unchanged_keeps_its_password_issuers_and_images(
    page: Page, dashboard_server: DashboardServer, screenshots: Path
) -> None:
    before = _registered(dashboard_server, "HOS-002")
    assert before["hasPassword"] and before["nationalIdIssuers"]
    sign_in(page, dashboard_server.origin, *ADMIN, path="/app/hospitals/legacy-hos-002")
    form = "#hospital-edit-form"
    expect(page.locator(f"{form} [name=orthancPassword]")).to_have_value("")
    expect(page.locator(f"{form} [name=nationalIdIssuers]")).to_have_value(
        ", ".join(before["nationalIdIssuers"])
    )
    with page.expect_response(
        lambda r: "/admin/hospitals/" in r.url and r.request.method == "PATCH"
    ) as saved:
        page.click(f"{form} button[type=submit]")
    assert saved.value.status == 200
    assert json.loads(saved.value.request.post_data or "{}") == {}  # nothing changed, nothing sent
    expect(page.locator("#hospital-edit-note .notice.success")).to_contain_text("Saved")
    shot(page, screenshots, "20-hospital-saved-unchanged")
    after = _registered(dashboard_server, "HOS-002")
    assert after["hasPassword"] and after["nationalIdIssuers"] == before["nationalIdIssuers"]
    assert _wado_works(dashboard_server, CT_STUDY)
    page.goto(dashboard_server.url(f"/app/studies/{CT_STUDY}"))
    expect(page.locator("#series .thumb img.loaded").first).to_be_visible()
    assert all(width > 0 for width in loaded_images(page, "#series .thumb img.loaded"))


def test_a_wrong_password_is_shown_at_its_field_and_not_saved(
    page: Page, dashboard_server: DashboardServer, screenshots: Path
) -> None:
    sign_in(page, dashboard_server.origin, *ADMIN, path="/app/hospitals/legacy-hos-002")
    form = "#hospital-edit-form"
    page.fill(f"{form} [name=orthancPassword]", "certainly-not-the-password")
    page.click(f"{form} button[type=submit]")
    assert "refused" in _field_error(page, form, "orthancPassword")
    assert page.evaluate("document.activeElement.name") == "orthancPassword"
    shot(page, screenshots, "21-hospital-wrong-password")
    assert _registered(dashboard_server, "HOS-002")["hasPassword"]
    assert _wado_works(dashboard_server, CT_STUDY)


def test_sync_now_shows_progress_and_its_result(
    page: Page, dashboard_server: DashboardServer, screenshots: Path
) -> None:
    # A study the modality just sent to General Hospital's Orthanc.
    directory = dashboard_server.running.data_dir / DIRECTORY / "hos-001"
    credentials = json.loads((directory / "credentials.json").read_text())
    port = json.loads((directory / "running.json").read_text())["http_port"]
    study = make_study(
        SamplePatient("G-77", "Kamau^Peter", "19770707", "M"),
        [SampleSeries("CT_small.dcm", 1, description="Sync now series")],
        description="CT sync now",
        accession="ACC-SYNC-NOW",
    )
    for dataset in study:
        httpx.post(
            f"http://127.0.0.1:{port}/instances",
            content=to_bytes(dataset),
            auth=(credentials["username"], credentials["password"]),
            timeout=30,
        ).raise_for_status()
    sign_in(page, dashboard_server.origin, *ADMIN, path="/app/hospitals/legacy-hos-001")
    # The page draws its heading before it has loaded the hospital and added the Sync now controls.
    page.wait_for_selector("#sync-progress", state="attached")
    # Whether the progress indicator was ever shown (the pass may be quicker than a poll).
    page.evaluate(
        """() => { window.progressSeen = false;
        const el = document.getElementById('sync-progress');
        new MutationObserver(() => { if (!el.hidden) window.progressSeen = true; })
          .observe(el, { attributes: true }); }"""
    )
    page.click("#sync-now")
    result = page.locator("#sync-result .notice")
    expect(result).to_contain_text("Synced.")
    expect(result).to_contain_text("unchanged")
    assert page.evaluate("window.progressSeen") is True
    expect(page.locator("#sync-progress")).to_be_hidden()
    expect(page.locator("#hospital-freshness")).to_contain_text("Synced just now")
    expect(page.locator("#hospital-studies-table")).to_contain_text("CT sync now")
    shot(page, screenshots, "22-hospital-sync-now")


def test_identity_rules_and_an_offline_pacs_on_the_federation_page(
    page: Page, dashboard_server: DashboardServer, screenshots: Path
) -> None:
    headers = _admin(dashboard_server)
    body = {"name": "Mountain Clinic", "identifier": "HOS-MTN", "orthancUrl": "http://127.0.0.1:9"}
    refused = httpx.post(dashboard_server.url("/admin/hospitals"), json=body, headers=headers, timeout=30)
    assert refused.status_code == 422
    added = httpx.post(
        dashboard_server.url("/admin/hospitals"),
        json={**body, "allowOffline": True},
        headers=headers,
        timeout=30,
    )
    assert added.status_code == 201, added.text
    org_id = added.json()["organization"].removeprefix("Organization/")
    failed = httpx.post(dashboard_server.url(f"/admin/hospitals/{org_id}/sync"), headers=headers, timeout=60)
    assert failed.json()["completed"] is False and failed.json()["failingSince"]

    sign_in(page, dashboard_server.origin, *ADMIN, path=f"/app/hospitals/{org_id}")
    form = "#hospital-edit-form"
    page.select_option(f"{form} [name=nationalIdSource]", "patient-id")
    page.fill(f"{form} [name=nationalIdIssuers]", "NIN, NATIONAL")
    with page.expect_response(
        lambda r: "/admin/hospitals/" in r.url and r.request.method == "PATCH"
    ) as saved:
        page.click(f"{form} button[type=submit]")
    assert json.loads(saved.value.request.post_data or "{}") == {
        "nationalIdSource": "patient-id",
        "nationalIdIssuers": ["NIN", "NATIONAL"],
    }
    expect(page.locator("#hospital-edit-note .notice.success")).to_contain_text("Saved")
    registered = _registered(dashboard_server, "HOS-MTN")
    assert (registered["nationalIdSource"], registered["nationalIdIssuers"]) == (
        "patient-id",
        ["NIN", "NATIONAL"],
    )
    page.reload()
    expect(page.locator(f"{form} [name=nationalIdSource]")).to_have_value("patient-id")
    expect(page.locator(f"{form} [name=nationalIdIssuers]")).to_have_value("NIN, NATIONAL")
    expect(page.locator("#hospital-freshness [data-freshness]")).to_have_attribute(
        "data-freshness", "failing"
    )

    # A duplicate identifier is refused in the registration form, naming the registered hospital.
    page.click("nav a[data-section=hospitals]")
    register = "#hospital-form"
    page.fill(f"{register} [name=name]", "Mountain Clinic Copy")
    page.fill(f"{register} [name=identifier]", "HOS-MTN")
    page.fill(f"{register} [name=orthancUrl]", "http://127.0.0.1:9")
    page.check(f"{register} [name=allowOffline]")
    page.click(f"{register} button[type=submit]")
    assert "Mountain Clinic" in _field_error(page, register, "identifier")

    clinician = page.context.new_page()
    sign_in(
        clinician, dashboard_server.origin, *CLINICIAN, path=f"/app/federation?national_id={JOHN_NATIONAL_ID}"
    )
    warning = clinician.locator("#unreachable-warning")
    expect(warning).to_contain_text("Mountain Clinic")
    expect(warning).to_contain_text("unreachable since")
    consulted = clinician.locator("#consulted-table")
    fresh = consulted.locator("tr", has_text="General Hospital").locator("[data-freshness]")
    expect(fresh).to_have_attribute("data-freshness", "fresh")
    expect(fresh).to_contain_text(re.compile(r"Synced (just now|\d+ minutes? ago)"))
    down = consulted.locator("tr", has_text="Mountain Clinic").locator("[data-freshness]")
    expect(down).to_have_attribute("data-freshness", "failing")
    shot(clinician, screenshots, "23-federation-freshness")
    clinician.close()
