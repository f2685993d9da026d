"""Image access through a SMART Health Link with a real Orthanc (Debian `orthanc` + `orthanc-dicomweb`):
the link's `application/smart-api-access` token opens the study's rendered series through our DICOMweb
proxy, and the viewer shows them; the token opens nothing else — not the patient's other study when the
link names one study, not a study its creator could not read. Hospital registered and synced with the CLI,
as an operator would. The patient has a CT study and an MR study."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from fhir_server.settings import Settings
from fhir_server.storage.connection import connect
from tests import server_process
from tests.chromium import chromium
from tests.fhir_server.dicomweb.dicom_samples import SamplePatient, SampleSeries, make_study, to_bytes
from tests.fhir_server.dicomweb.orthanc_process import PASSWORD, USER, OrthancServer, require_orthanc
from tests.fhir_server.shl.shl_client import create, fetch_files
from tests.server_process import REPO_ROOT, SecuredServer, start_server

SMART = {"FHIR_AUTH_MODE": "smart"}


@dataclass
class Imaging:
    server: SecuredServer
    patient: str
    study: str  # the CT study
    other: str  # the same patient's MR study


def _cli(port: int, data_dir: Path, *args: str) -> str:
    env = {**os.environ, **SMART, "FHIR_HOST": "127.0.0.1", "FHIR_PORT": str(port), "FHIR_LOG_FORMAT": "text"}
    result = subprocess.run(
        [sys.executable, "-m", "fhir_server", *args, "--data-dir", str(data_dir)],
        capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def imaging(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Imaging]:
    require_orthanc()
    root = tmp_path_factory.mktemp("shl-imaging")
    orthanc = OrthancServer("SHLHOSP", root / "orthanc").start()
    port = server_process.free_port()
    patch = pytest.MonkeyPatch()
    patch.setattr(server_process, "free_port", lambda: port)
    try:
        running = start_server(root / "data", env=SMART)
    finally:
        patch.undo()
    connection = connect(Settings(data_dir=root / "data"), "cli")
    try:
        hospital = ["--name", "Harbour Hospital", "--identifier", "HOS-H01", "--orthanc-url", orthanc.url]
        _cli(
            port,
            root / "data",
            "hospital",
            "add",
            *hospital,
            "--orthanc-user",
            USER,
            "--orthanc-password",
            PASSWORD,
        )
        patient = SamplePatient("H-1", "Berg^Astrid", "19700101", "F")
        ct = make_study(
            patient,
            [SampleSeries("CT_small.dcm", 1, description="Chest")],
            description="CT chest",
            accession="ACC-H-1",
        )
        mr = make_study(
            patient,
            [SampleSeries("MR_small.dcm", 1, description="Knee")],
            description="MR knee",
            accession="ACC-H-2",
        )
        for dataset in [*ct, *mr]:
            orthanc.store(to_bytes(dataset))
        _cli(port, root / "data", "sync", "--hospital", "HOS-H01")
        server = SecuredServer(running, connection)
        with server.client(server.mint("system/*.rs", role=None)) as admin:
            studies = {
                modality: admin.get("/ImagingStudy", params={"modality": modality}).json()["entry"][0][
                    "resource"
                ]
                for modality in ("CT", "MR")
            }
        yield Imaging(
            server,
            studies["CT"]["subject"]["reference"].split("/")[1],
            studies["CT"]["id"],
            studies["MR"]["id"],
        )
    finally:
        connection.close()
        running.stop()
        orthanc.stop()


def test_token_opens_rendered_series_and_viewer_shows_them(imaging: Imaging) -> None:
    server = imaging.server
    with server.client(server.mint("user/*.rs", fhir_user="Practitioner/dr-who")) as clinician:
        created = create(clinician, f"ImagingStudy/{imaging.study}", imageAccess=True)
    bundle_file, access_file = fetch_files(created["link"])
    access = json.loads(access_file[1])
    bundle = json.loads(bundle_file[1])
    resources = {
        f"{e['resource']['resourceType']}/{e['resource']['id']}": e["resource"] for e in bundle["entry"]
    }
    study = resources[f"ImagingStudy/{imaging.study}"]
    endpoint = resources[study["endpoint"][0]["reference"]]
    uid = next(i["value"] for i in study["identifier"] if i["system"] == "urn:dicom:uid").removeprefix(
        "urn:oid:"
    )
    series = study["series"][0]["uid"]
    rendered = f"{endpoint['address']}/studies/{uid}/series/{series}/rendered"
    headers = {"Authorization": f"Bearer {access['access_token']}", "Accept": "image/png"}
    answer = httpx.get(rendered, headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("image/")
    assert httpx.get(rendered, timeout=30).status_code == 401

    with chromium("the image-access viewer test") as browser:
        page = browser.new_page()
        page.goto(created["viewerUrl"])
        page.wait_for_selector("img.rendered", timeout=20_000)
        assert page.inner_text(".hospital-name") == "Harbour Hospital"
        width = page.eval_on_selector("img.rendered", "img => img.naturalWidth")
        assert width > 0


def _rendered_url(bundle: dict[str, Any], study_id: str, series_index: int = 0) -> str:
    """The DICOMweb URL of a study's first series, rendered, from the study and its Endpoint in `bundle`."""
    resources = {
        f"{e['resource']['resourceType']}/{e['resource']['id']}": e["resource"] for e in bundle["entry"]
    }
    study = resources[f"ImagingStudy/{study_id}"]
    endpoint = resources[study["endpoint"][0]["reference"]]
    uid = next(i["value"] for i in study["identifier"] if i["system"] == "urn:dicom:uid").removeprefix(
        "urn:oid:"
    )
    return f"{endpoint['address']}/studies/{uid}/series/{study['series'][series_index]['uid']}/rendered"


def _full_bundle(imaging: Imaging) -> dict[str, Any]:
    """Both studies with their Endpoints, read by a clinician (to know the other study's URLs), after
    checking that the clinician's token opens both studies' images (so a 404 below is the token's limit,
    not a wrong URL)."""
    server = imaging.server
    token = server.mint("user/*.rs", fhir_user="Practitioner/dr-who")
    with server.client(token) as clinician:
        everything = clinician.get(f"/Patient/{imaging.patient}/$everything")
    assert everything.status_code == 200, everything.text
    bundle: dict[str, Any] = everything.json()
    for study in (imaging.study, imaging.other):
        assert _image(_rendered_url(bundle, study), token).status_code == 200
    return bundle


def _image(url: str, token: str) -> httpx.Response:
    return httpx.get(url, headers={"Authorization": f"Bearer {token}", "Accept": "image/png"}, timeout=30)


def test_study_link_token_opens_that_study_only(imaging: Imaging) -> None:
    server = imaging.server
    full = _full_bundle(imaging)
    with server.client(server.mint("user/*.rs", fhir_user="Practitioner/dr-who")) as clinician:
        created = create(clinician, f"ImagingStudy/{imaging.study}", imageAccess=True)
    bundle_file, access_file = fetch_files(created["link"])
    shared = {
        f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in json.loads(bundle_file[1])["entry"]
    }
    assert f"ImagingStudy/{imaging.study}" in shared and f"ImagingStudy/{imaging.other}" not in shared
    token = json.loads(access_file[1])["access_token"]
    assert _image(_rendered_url(full, imaging.study), token).status_code == 200
    # The patient's other study, at the same hospital through the same proxy: absent for this token.
    assert _image(_rendered_url(full, imaging.other), token).status_code == 404
    with server.client(token) as api:
        assert api.get(f"/ImagingStudy/{imaging.other}").status_code == 404
        assert api.get(f"/ImagingStudy/{imaging.study}").status_code == 200


def test_link_of_a_ct_only_creator_never_opens_the_mr_study(imaging: Imaging) -> None:
    server = imaging.server
    full = _full_bundle(imaging)
    scopes = (
        "patient/Patient.rs patient/ImagingStudy.rs?modality=CT patient/Endpoint.rs patient/Organization.rs"
    )
    creator = server.mint(scopes, patient=imaging.patient, fhir_user="Practitioner/dr-who")
    with server.client(creator) as narrow:
        created = create(narrow, f"Patient/{imaging.patient}", imageAccess=True, longTerm=True)
    bundle_file, access_file = fetch_files(created["link"])
    shared = {
        f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in json.loads(bundle_file[1])["entry"]
    }
    assert f"ImagingStudy/{imaging.study}" in shared and f"ImagingStudy/{imaging.other}" not in shared
    token = json.loads(access_file[1])["access_token"]
    assert _image(_rendered_url(full, imaging.study), token).status_code == 200
    assert _image(_rendered_url(full, imaging.other), token).status_code == 404
    with server.client(token) as api:
        assert api.get(f"/ImagingStudy/{imaging.other}").status_code == 404
        found = api.get("/ImagingStudy", params={"patient": f"Patient/{imaging.patient}"}).json()
        assert [e["resource"]["id"] for e in found.get("entry", [])] == [imaging.study]
