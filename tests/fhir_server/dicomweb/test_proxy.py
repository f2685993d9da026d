"""The DICOMweb proxy over real HTTP: pixel data of an allowed study, 403 for another patient's, QIDO results
filtered, Orthanc URLs and credentials never shown. The test Authorizer reads `X-Test-Patient` (see
inprocess_server); it is installed into the running app, not configured."""

from __future__ import annotations

import httpx
import pytest
from dicomweb_client.api import DICOMwebClient
from federation_setup import Federation, Hospital
from inprocess_server import PATIENT_HEADER
from orthanc_process import PASSWORD
from pydicom import Dataset

from fhir_server.auth.enforcement import SmartAuthorizer

FRAMES_ACCEPT = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'


def _address(federation: Federation, endpoint_id: str) -> str:
    return f"{federation.server.base_url}/dicomweb/{endpoint_id}"


def _viewer(federation: Federation, hospital: Hospital, patient: str | None = None) -> DICOMwebClient:
    headers = {PATIENT_HEADER: patient} if patient else {}
    return DICOMwebClient(_address(federation, hospital.wado_endpoint_id), headers=headers)


def _instance_path(dataset: Dataset) -> str:
    return (
        f"studies/{dataset.StudyInstanceUID}/series/{dataset.SeriesInstanceUID}"
        f"/instances/{dataset.SOPInstanceUID}"
    )


def _assert_clean(federation: Federation, body: bytes) -> None:
    for hospital in (federation.north, federation.south):
        assert f":{hospital.orthanc.http_port}".encode() not in body
    assert PASSWORD.encode() not in body


def test_allowed_study_pixel_data_comes_through(federation: Federation) -> None:
    source = federation.north_ct[0]
    viewer = _viewer(federation, federation.north, f"Patient/{federation.ingrid}")
    instance = viewer.retrieve_instance(
        source.StudyInstanceUID, source.SeriesInstanceUID, source.SOPInstanceUID
    )
    assert instance.PixelData == source.PixelData
    assert instance.SOPInstanceUID == source.SOPInstanceUID


def test_frames_stream_with_our_content_location(federation: Federation) -> None:
    source = federation.south_study[0]
    url = f"{_address(federation, federation.south.wado_endpoint_id)}/{_instance_path(source)}/frames/1"
    headers = {PATIENT_HEADER: f"Patient/{federation.ingrid}", "Accept": FRAMES_ACCEPT}
    response = httpx.get(url, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("multipart/related")
    assert source.PixelData in response.content
    assert (
        f"Content-Location: {_address(federation, federation.south.wado_endpoint_id)}/".encode()
        in response.content
    )
    _assert_clean(federation, response.content)


def test_metadata_bulk_data_uris_point_at_the_proxy(federation: Federation) -> None:
    source = federation.north_ct[0]
    viewer = _viewer(federation, federation.north, f"Patient/{federation.ingrid}")
    (metadata,) = viewer.retrieve_study_metadata(source.StudyInstanceUID)
    bulk = metadata["7FE00010"]["BulkDataURI"]
    assert bulk.startswith(f"{_address(federation, federation.north.wado_endpoint_id)}/studies/")
    with httpx.Client(timeout=30, headers={PATIENT_HEADER: f"Patient/{federation.ingrid}"}) as client:
        pixels = client.get(bulk, headers={"Accept": FRAMES_ACCEPT})
    assert pixels.status_code == 200
    assert source.PixelData in pixels.content


def test_rendered_image(federation: Federation) -> None:
    source = federation.north_ct[0]
    url = f"{_address(federation, federation.north.wado_endpoint_id)}/{_instance_path(source)}/rendered"
    response = httpx.get(url, headers={"Accept": "image/jpeg"}, timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert response.content[:2] == b"\xff\xd8"


def test_another_patients_study_is_refused(federation: Federation) -> None:
    lars_study = federation.north_mr[0]
    base = _address(federation, federation.north.wado_endpoint_id)
    headers = {PATIENT_HEADER: f"Patient/{federation.ingrid}"}
    for path in (
        f"studies/{lars_study.StudyInstanceUID}",
        f"studies/{lars_study.StudyInstanceUID}/metadata",
        f"studies/{lars_study.StudyInstanceUID}/series",
        f"{_instance_path(lars_study)}/frames/1",
    ):
        response = httpx.get(f"{base}/{path}", headers=headers, timeout=30)
        assert response.status_code == 403, path
        outcome = response.json()
        assert outcome["resourceType"] == "OperationOutcome"
        assert outcome["issue"][0]["code"] == "forbidden"
    viewer = _viewer(federation, federation.north, f"Patient/{federation.ingrid}")
    with pytest.raises(Exception, match="403"):
        viewer.retrieve_instance(
            lars_study.StudyInstanceUID, lars_study.SeriesInstanceUID, lars_study.SOPInstanceUID
        )


def test_qido_search_results_are_filtered_to_allowed_studies(federation: Federation) -> None:
    north = federation.north
    everything = DICOMwebClient(_address(federation, north.qido_endpoint_id)).search_for_studies()
    mine = _viewer(federation, north, f"Patient/{federation.ingrid}").search_for_studies()
    all_uids = {s["0020000D"]["Value"][0] for s in everything}
    assert {federation.north_ct[0].StudyInstanceUID, federation.north_mr[0].StudyInstanceUID} <= all_uids
    assert [s["0020000D"]["Value"][0] for s in mine] == [federation.north_ct[0].StudyInstanceUID]
    retrieve_url = mine[0]["00081190"]["Value"][0]
    assert retrieve_url.startswith(_address(federation, north.wado_endpoint_id) + "/studies/")
    instances = httpx.get(
        f"{_address(federation, north.qido_endpoint_id)}/instances",
        headers={PATIENT_HEADER: f"Patient/{federation.ingrid}"},
        timeout=30,
    )
    assert {i["0020000D"]["Value"][0] for i in instances.json()} == {federation.north_ct[0].StudyInstanceUID}
    _assert_clean(federation, instances.content)


def test_unknown_endpoint_study_or_path_is_an_operation_outcome(federation: Federation) -> None:
    base = _address(federation, federation.north.wado_endpoint_id)
    south_study = federation.south_study[0].StudyInstanceUID
    cases = {
        f"{federation.server.base_url}/dicomweb/no-such-endpoint/studies": 404,
        f"{base}/studies/1.2.3.4": 404,
        # A study of another hospital is not reachable through this hospital's endpoint.
        f"{base}/studies/{south_study}": 404,
        f"{base}/studies/1.2.3/..%2F..%2F..%2Fsystem": 404,
        f"{base}/system": 404,
        f"{base}/studies/not-a-uid/metadata": 404,
    }
    for url, status in cases.items():
        response = httpx.get(url, timeout=30)
        assert response.status_code == status, url
        assert response.json()["resourceType"] == "OperationOutcome"
    stow = httpx.post(f"{base}/studies", content=b"", timeout=30)
    assert stow.status_code == 405
    assert stow.json()["resourceType"] == "OperationOutcome"


def test_a_smart_patient_token_sees_only_its_patients_images(federation: Federation) -> None:
    """The same hook, implemented by SMART enforcement: a patient-confined token, no test Authorizer."""
    services = federation.server.services
    minted = federation.server.cli(
        "token", "--scope", "patient/ImagingStudy.rs", "--patient", federation.ingrid
    )
    assert minted.returncode == 0, minted.stderr
    bearer = {"Authorization": f"Bearer {minted.stdout.strip().splitlines()[-1]}"}
    test_authorizer, services.authorizer = services.authorizer, SmartAuthorizer()
    try:
        base = _address(federation, federation.north.wado_endpoint_id)
        with httpx.Client(timeout=30, headers=bearer) as client:
            own = client.get(f"{base}/studies/{federation.north_ct[0].StudyInstanceUID}/metadata")
            other = client.get(f"{base}/studies/{federation.north_mr[0].StudyInstanceUID}/metadata")
            search = client.get(f"{_address(federation, federation.north.qido_endpoint_id)}/studies")
        anonymous = httpx.get(f"{base}/studies", headers={"Authorization": "Bearer not-a-token"}, timeout=30)
    finally:
        services.authorizer = test_authorizer
    assert own.status_code == 200
    assert other.status_code == 403 and other.json()["resourceType"] == "OperationOutcome"
    assert [s["0020000D"]["Value"][0] for s in search.json()] == [federation.north_ct[0].StudyInstanceUID]
    assert anonymous.status_code == 401
