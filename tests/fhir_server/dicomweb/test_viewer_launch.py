"""The viewer's launch API (IHE Invoke Image Display resolved through the caller's secured store) and its
IID Endpoint, over real HTTP with real tokens against the two-hospital federation."""

from __future__ import annotations

import httpx
import pytest

from fhir_server.viewer import installed_version, viewer_dir
from tests.fhir_server.dicomweb.federation_setup import INGRID_NATIONAL_ID, Federation

PATIENT_SCOPE = "patient/ImagingStudy.rs patient/Patient.rs"


def _launch(federation: Federation, headers: dict[str, str], **query: str) -> httpx.Response:
    return httpx.get(
        f"{federation.server.base_url}/viewer/api/launch", params=query, headers=headers, timeout=30
    )


def test_a_patient_launch_opens_all_their_studies_from_both_hospitals(federation: Federation) -> None:
    ingrid = federation.server.bearer(PATIENT_SCOPE, patient=federation.ingrid)
    expected = [federation.south_study[0].StudyInstanceUID, federation.north_ct[0].StudyInstanceUID]
    for patient_id in (federation.ingrid, INGRID_NATIONAL_ID):
        response = _launch(federation, ingrid, requestType="PATIENT", patientID=patient_id)
        assert response.status_code == 200, response.text
        body = response.json()
        uids = body["studyUIDs"]
        assert set(expected) <= set(uids)  # other tests may add studies of Ingrid
        assert uids.index(expected[0]) < uids.index(expected[1])  # newest first
        assert body["viewerUrl"] == (
            f"/viewer/viewer?StudyInstanceUIDs={','.join(uids)}&hangingProtocolId=@ohif/hpCompare"
        )


def test_an_images_only_token_launches_its_own_patient(federation: Federation) -> None:
    images_only = federation.server.bearer("patient/ImagingStudy.rs", patient=federation.ingrid)
    mine = _launch(federation, images_only, requestType="PATIENT", patientID=federation.ingrid)
    assert mine.status_code == 200, mine.text
    assert len(mine.json()["studyUIDs"]) >= 2
    # Another patient: nothing this token may see (the same answer as for no such patient).
    other = _launch(federation, images_only, requestType="PATIENT", patientID="someone-else")
    lars = _launch(federation, images_only, requestType="PATIENT", patientID="N-200")
    assert other.status_code == lars.status_code == 404


def test_a_study_launch_by_uid_or_accession(federation: Federation) -> None:
    operator = federation.server.bearer()
    north_ct = federation.north_ct[0].StudyInstanceUID
    by_uid = _launch(federation, operator, requestType="STUDY", studyUID=north_ct).json()
    by_accession = _launch(federation, operator, requestType="study", accessionNumber="ACC-N-1").json()
    assert by_uid["studyUIDs"] == by_accession["studyUIDs"] == [north_ct]


def test_another_patients_study_is_not_found_and_bad_requests_name_the_parameter(
    federation: Federation,
) -> None:
    ingrid = federation.server.bearer(PATIENT_SCOPE, patient=federation.ingrid)
    lars_study = federation.north_mr[0].StudyInstanceUID
    theirs = _launch(federation, ingrid, requestType="STUDY", studyUID=lars_study)
    absent = _launch(federation, ingrid, requestType="STUDY", studyUID="1.2.3.4.5")
    assert theirs.status_code == absent.status_code == 404
    assert theirs.json() == absent.json()
    assert _launch(federation, ingrid, requestType="PATIENT", patientID="N-200").status_code == 404
    bad = _launch(federation, ingrid, requestType="SERIES")
    assert bad.status_code == 400 and bad.json()["issue"][0]["expression"] == ["requestType"]
    missing = _launch(federation, ingrid, requestType="PATIENT")
    assert missing.status_code == 400 and missing.json()["issue"][0]["expression"] == ["patientID"]
    assert _launch(federation, {}, requestType="PATIENT", patientID=federation.ingrid).status_code == 401


def test_the_viewer_is_advertised_as_an_iid_endpoint(federation: Federation) -> None:
    with federation.client(Accept="application/fhir+json") as client:
        bundle = client.get("/fhir/Endpoint", params={"connection-type": "ihe-iid"}).json()
    (endpoint,) = [e["resource"] for e in bundle["entry"]]
    assert endpoint["status"] == "active"
    assert endpoint["address"] == f"{federation.server.base_url}/viewer/IHEInvokeImageDisplay"
    launcher = httpx.get(endpoint["address"], params={"requestType": "STUDY", "studyUID": "1.2"}, timeout=30)
    assert launcher.status_code == 200
    assert "script-src 'self'" in launcher.headers["content-security-policy"]


def test_the_build_is_served_gzipped_and_its_shell_only_rewritten(federation: Federation) -> None:
    if installed_version(viewer_dir(federation.server.settings)) is None:
        pytest.fail("run `fhir-server install-viewer` first", pytrace=False)
    origin = federation.server.base_url
    shell = httpx.get(f"{origin}/viewer/index.html", timeout=30)
    assert shell.status_code == 200
    assert "wasm-unsafe-eval" in shell.headers["content-security-policy"]
    assert 'window.PUBLIC_URL="/viewer/"' in shell.text
    page = httpx.get(f"{origin}/viewer/", timeout=30)
    script = next(s for s in page.text.split('"') if s.startswith("/viewer/app.bundle."))
    packed = httpx.get(f"{origin}{script}", headers={"Accept-Encoding": "gzip"}, timeout=60)
    plain = httpx.get(f"{origin}{script}", headers={"Accept-Encoding": "identity"}, timeout=60)
    assert packed.headers["content-encoding"] == "gzip" and "content-encoding" not in plain.headers
    assert packed.content == plain.content  # httpx decoded it
    assert packed.num_bytes_downloaded < plain.num_bytes_downloaded / 3
