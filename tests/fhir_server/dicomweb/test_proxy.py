"""The DICOMweb proxy over real HTTP, with real SMART tokens: pixel data of a visible study, QIDO results
filtered to the caller's studies, Orthanc URLs and credentials never shown. (Another patient's study looking
exactly like a missing one is test_access_oracles.)"""

from __future__ import annotations

import httpx
from dicomweb_client.api import DICOMwebClient
from pydicom import Dataset

from tests.fhir_server.dicomweb.federation_setup import Federation, Hospital
from tests.fhir_server.dicomweb.orthanc_process import PASSWORD

PATIENT_SCOPE = "patient/ImagingStudy.rs"
FRAMES_ACCEPT = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'


def _address(federation: Federation, endpoint_id: str) -> str:
    return f"{federation.server.base_url}/dicomweb/{endpoint_id}"


def _as_patient(federation: Federation, patient: str) -> dict[str, str]:
    """What a patient's viewer app holds: a patient-scoped token with `patient` as its launch context."""
    return federation.server.bearer(PATIENT_SCOPE, patient=patient)


def _viewer(federation: Federation, hospital: Hospital, patient: str | None = None) -> DICOMwebClient:
    """A viewer of one patient (patient token), or of the whole hospital (backend-service token)."""
    headers = _as_patient(federation, patient) if patient else federation.server.bearer()
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
    viewer = _viewer(federation, federation.north, federation.ingrid)
    instance = viewer.retrieve_instance(
        source.StudyInstanceUID, source.SeriesInstanceUID, source.SOPInstanceUID
    )
    assert instance.PixelData == source.PixelData
    assert instance.SOPInstanceUID == source.SOPInstanceUID


def test_frames_stream_with_our_content_location(federation: Federation) -> None:
    source = federation.south_study[0]
    url = f"{_address(federation, federation.south.wado_endpoint_id)}/{_instance_path(source)}/frames/1"
    headers = {**_as_patient(federation, federation.ingrid), "Accept": FRAMES_ACCEPT}
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
    viewer = _viewer(federation, federation.north, federation.ingrid)
    (metadata,) = viewer.retrieve_study_metadata(source.StudyInstanceUID)
    bulk = metadata["7FE00010"]["BulkDataURI"]
    assert bulk.startswith(f"{_address(federation, federation.north.wado_endpoint_id)}/studies/")
    with httpx.Client(timeout=30, headers=_as_patient(federation, federation.ingrid)) as client:
        pixels = client.get(bulk, headers={"Accept": FRAMES_ACCEPT})
    assert pixels.status_code == 200
    assert source.PixelData in pixels.content


def test_rendered_image(federation: Federation) -> None:
    source = federation.north_ct[0]
    url = f"{_address(federation, federation.north.wado_endpoint_id)}/{_instance_path(source)}/rendered"
    headers = {**_as_patient(federation, federation.ingrid), "Accept": "image/jpeg"}
    response = httpx.get(url, headers=headers, timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert response.content[:2] == b"\xff\xd8"


def test_qido_search_results_are_filtered_to_allowed_studies(federation: Federation) -> None:
    north = federation.north
    everything = DICOMwebClient(
        _address(federation, north.qido_endpoint_id), headers=federation.server.bearer()
    ).search_for_studies()
    mine = _viewer(federation, north, federation.ingrid).search_for_studies()
    all_uids = {s["0020000D"]["Value"][0] for s in everything}
    assert {federation.north_ct[0].StudyInstanceUID, federation.north_mr[0].StudyInstanceUID} <= all_uids
    assert [s["0020000D"]["Value"][0] for s in mine] == [federation.north_ct[0].StudyInstanceUID]
    retrieve_url = mine[0]["00081190"]["Value"][0]
    assert retrieve_url.startswith(_address(federation, north.wado_endpoint_id) + "/studies/")
    instances = httpx.get(
        f"{_address(federation, north.qido_endpoint_id)}/instances",
        headers=_as_patient(federation, federation.ingrid),
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
        response = httpx.get(url, headers=federation.server.bearer(), timeout=30)
        assert response.status_code == status, url
        assert response.json()["resourceType"] == "OperationOutcome"
    stow = httpx.post(f"{base}/studies", content=b"", headers=federation.server.bearer(), timeout=30)
    assert stow.status_code == 405
    assert stow.json()["resourceType"] == "OperationOutcome"


def test_qido_wildcards_reach_the_pacs_as_wildcards(federation: Federation) -> None:
    # DICOM PS3.4 C.2.2.2.4: `*` in a QIDO value is a wildcard. Percent-encoded (%2A), as a generic URL
    # encoder would send it, Orthanc compares it literally and finds nothing.
    north = federation.north
    name = str(federation.north_ct[0].PatientName)
    address = _address(federation, north.qido_endpoint_id)
    for query in (f"PatientName={name[:3]}*", f"PatientName={name[:3]}%2A"):
        found = httpx.get(f"{address}/studies?{query}", headers=federation.server.bearer(), timeout=30)
        assert found.status_code == 200, found.text
        uids = {s["0020000D"]["Value"][0] for s in found.json()}
        assert federation.north_ct[0].StudyInstanceUID in uids, query
