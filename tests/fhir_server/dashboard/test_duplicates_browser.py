"""The "Possible duplicates" page in headless Chromium: a patient registered through FHIR and the same person
arriving from a hospital's PACS without a national ID become a candidate (found by the real sync of a real
upload); the administrator previews and merges it from the page, and dismisses another. Clinicians do not
see the page."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from fhir_server.demo.dicom_samples import SamplePatient, SampleSeries, make_study, write_files
from terminology.systems import DEFAULT_NATIONAL_ID_SYSTEM
from tests.fhir_server.dashboard.browser_steps import shot, sign_in
from tests.fhir_server.dashboard.dashboard_support import ADMIN, CLINICIAN, DashboardServer
from tests.server_process import run_cli

HOSPITAL = "HOS-003"  # Coastal Imaging Centre of the demo


def _admin_client(server: DashboardServer) -> httpx.Client:
    token = server.mint("user/*.cruds admin", role="admin")
    return server.client(token)


def _create_patient(server: DashboardServer, family: str, given: str, birth: str, gender: str) -> str:
    national = str(uuid.uuid4().int)[:18]
    body = {
        "resourceType": "Patient",
        "identifier": [{"system": DEFAULT_NATIONAL_ID_SYSTEM, "value": national}],
        "name": [{"family": family, "given": [given]}],
        "gender": gender,
        "birthDate": birth,
    }
    with _admin_client(server) as client:
        response = client.post("/Patient", json=body, headers={"Content-Type": "application/fhir+json"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _upload(server: DashboardServer, directory: Path, patients: list[SamplePatient]) -> None:
    """Each patient's MR study sent to the hospital's PACS by `fhir-server upload` (STOW-RS, then synced)."""
    files = []
    for number, patient in enumerate(patients):
        study = make_study(
            patient,
            [SampleSeries("MR_small.dcm", 1)],
            description="MR knee",
            accession=f"ACC-DUP-{uuid.uuid4().hex[:8]}",
            started=("20230707", "090000", "+0300"),
        )
        files += write_files(study, directory / str(number))
    done = run_cli(
        "upload", "--hospital", HOSPITAL, "--data-dir", str(server.running.data_dir), *map(str, files)
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _read(server: DashboardServer, reference: str) -> dict[str, Any]:
    with _admin_client(server) as client:
        response = client.get(f"/{reference}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_admin_previews_and_merges_a_possible_duplicate_and_dismisses_another(
    page: Page, dashboard_server: DashboardServer, screenshots: Path, tmp_path: Path
) -> None:
    zawadi = _create_patient(dashboard_server, "Nkya", "Zawadi", "1988-08-08", "female")
    hassan = _create_patient(dashboard_server, "Juma", "Hassan", "1975-05-05", "male")
    _upload(
        dashboard_server,
        tmp_path,
        [
            SamplePatient("CIC-555", "NKYA^ZAWADI", "19880808", "F"),
            SamplePatient("CIC-556", "JUMA^HASSAN", "19750505", "M"),
        ],
    )

    sign_in(page, dashboard_server.origin, *ADMIN)
    page.click("nav a[data-section=duplicates]")
    expect(page.locator("h1")).to_have_text("Possible duplicates")
    card = page.locator(".candidate", has_text="Zawadi")
    expect(card).to_have_count(1)
    expect(card).to_contain_text("Coastal Imaging Centre")
    expect(card.locator(".side").first).to_contain_text("CIC-555")
    expect(card.locator(".side").last).to_contain_text(zawadi)
    shot(page, screenshots, "30-duplicates")

    card.locator("button[data-action=preview]").click()
    preview = card.locator(".notice", has_text="Preview")
    expect(preview).to_contain_text("nothing has been changed")
    expect(preview).to_contain_text("would be merged into")
    source = card.locator(".side").first.locator("dd.mono").inner_text()
    # The preview wrote nothing.
    assert _read(dashboard_server, f"Patient/{source}").get("active", True) is True
    shot(page, screenshots, "31-duplicates-preview")

    card.locator("button[data-action=merge]").click()
    card.locator("button[data-action=confirm-merge]").click()
    expect(card.locator(".notice.success")).to_contain_text("Merged")
    expect(card.locator("button[data-action=merge]")).to_have_count(0)
    shot(page, screenshots, "32-duplicates-merged")
    old = _read(dashboard_server, f"Patient/{source}")
    assert old["active"] is False
    assert old["link"] == [{"other": {"reference": f"Patient/{zawadi}"}, "type": "replaced-by"}]
    with _admin_client(dashboard_server) as client:
        studies = client.get("/ImagingStudy", params={"patient": f"Patient/{zawadi}"}).json()
    assert [e["resource"]["description"] for e in studies["entry"]] == ["MR knee"]

    other = page.locator(".candidate", has_text="Hassan")
    other.locator("button[data-action=dismiss]").click()
    expect(other.locator(".notice.success")).to_contain_text("Dismissed")
    page.reload()
    expect(page.locator("h1")).to_have_text("Possible duplicates")
    expect(page.locator(".candidate", has_text="Hassan")).to_have_count(0)
    expect(page.locator(".candidate", has_text="Zawadi")).to_have_count(0)
    page.click("a:has-text('Dismissed')")
    expect(page.locator(".candidate", has_text="Hassan")).to_contain_text("two different people")
    assert hassan in page.locator(".candidate", has_text="Hassan").inner_text()


def test_clinicians_do_not_see_possible_duplicates(page: Page, dashboard_server: DashboardServer) -> None:
    sign_in(page, dashboard_server.origin, *CLINICIAN)
    expect(page.locator("nav a[data-section=duplicates]")).to_be_hidden()
    page.goto(dashboard_server.url("/app/duplicates"))
    expect(page.locator("main")).to_contain_text("Only administrators")
