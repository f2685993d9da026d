"""The proxy as real DICOMweb clients use it (dicomweb-client with its defaults), against real Orthancs, at
the per-hospital roots and the federated root `/dicomweb/federated`: wildcard searches, retrieval of a study,
series, instance, frames and bulk data with the client's default Accept, paging over what a patient may see,
gzip, and one search over both hospitals."""

from __future__ import annotations

from email.parser import BytesParser
from email.policy import HTTP

import httpx
import pytest
from dicomweb_client.api import DICOMwebClient
from pydicom import Dataset

from tests.fhir_server.dicomweb.federation_setup import Federation

PATIENT_SCOPE = "patient/ImagingStudy.rs"
STUDY_UID = "0020000D"


def _root(federation: Federation, name: str) -> str:
    """`north`/`south`: a hospital's WADO-RS root; `federated`: the one root over both."""
    if name == "federated":
        return f"{federation.server.base_url}/dicomweb/federated"
    hospital = federation.north if name == "north" else federation.south
    return f"{federation.server.base_url}/dicomweb/{hospital.wado_endpoint_id}"


def _client(federation: Federation, root: str, patient: str | None = None) -> DICOMwebClient:
    headers = (
        federation.server.bearer(PATIENT_SCOPE, patient=patient) if patient else federation.server.bearer()
    )
    return DICOMwebClient(_root(federation, root), headers=headers)


def _uids(results: list[dict[str, dict[str, list[str]]]]) -> set[str]:
    return {r[STUDY_UID]["Value"][0] for r in results}


def _lars(federation: Federation) -> str:
    """Lars's Patient id (created by the sync from North's DICOM)."""
    uid = federation.north_mr[0].StudyInstanceUID
    with federation.client() as client:
        bundle = client.get("/fhir/ImagingStudy", params={"identifier": f"urn:oid:{uid}"}).json()
    return str(bundle["entry"][0]["resource"]["subject"]["reference"].removeprefix("Patient/"))


@pytest.mark.parametrize("root", ["north", "federated"])
def test_wildcard_searches_find_the_patient(federation: Federation, root: str) -> None:
    client = _client(federation, root)
    ingrid_ct = federation.north_ct[0].StudyInstanceUID
    for pattern in ("Hans*", "HANS*", "Hanse?^Ingrid", "*Ingrid"):
        found = client.search_for_studies(search_filters={"PatientName": pattern})
        assert ingrid_ct in _uids(found), pattern
    assert client.search_for_studies(search_filters={"PatientName": "Nobody*"}) == []


@pytest.mark.parametrize("root", ["north", "federated"])
def test_retrieval_with_the_clients_defaults(federation: Federation, root: str) -> None:
    source: Dataset = federation.north_ct[0]
    study, series, sop = source.StudyInstanceUID, source.SeriesInstanceUID, source.SOPInstanceUID
    client = _client(federation, root, federation.ingrid)
    assert [i.SOPInstanceUID for i in client.retrieve_study(study)] == [sop]
    assert [i.SOPInstanceUID for i in client.retrieve_series(study, series)] == [sop]
    assert client.retrieve_instance(study, series, sop).PixelData == source.PixelData
    # dicomweb-client asks for frames and bulk data with `multipart/related; type="*/*"`.
    (frame,) = client.retrieve_instance_frames(study, series, sop, [1])
    assert frame == source.PixelData
    (metadata,) = client.retrieve_study_metadata(study)
    bulk_uri = metadata["7FE00010"]["BulkDataURI"]
    assert bulk_uri.startswith(_root(federation, root) + "/studies/")
    (bulk,) = client.retrieve_bulkdata(bulk_uri)
    assert bulk == source.PixelData


def test_full_study_with_any_transfer_syntax_is_every_instance(federation: Federation) -> None:
    # SMART Imaging Access: the one retrieval every client may rely on.
    study = federation.south_study
    url = f"{_root(federation, 'federated')}/studies/{study[0].StudyInstanceUID}"
    headers = {
        **federation.server.bearer(PATIENT_SCOPE, patient=federation.ingrid),
        "Accept": "multipart/related; type=application/dicom; transfer-syntax=*",
    }
    response = httpx.get(url, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {response.headers['content-type']}\r\n\r\n".encode() + response.content
    )
    parts = [part for part in message.iter_parts() if part.get_content_type() == "application/dicom"]
    assert len(parts) == len(study) == 3
    assert all(str(s.SOPInstanceUID).encode() in response.content for s in study)


def _walk(client: DICOMwebClient) -> list[set[str]]:
    """Pages of one result each, as a client asks for them, until an empty page."""
    pages = []
    for offset in range(20):
        page = _uids(client.search_for_studies(limit=1, offset=offset))
        pages.append(page)
        if not page:
            return pages
    raise AssertionError("more pages than studies")


def test_patient_token_pages_over_its_own_studies(federation: Federation) -> None:
    """One page at a time, as a client does: every page full until the patient's results run out, whatever
    the position of other patients' studies in the PACS's list. (Other tests may add studies: the
    expectation is each patient's whole unpaged answer.)"""
    north = federation.north
    qido = f"{federation.server.base_url}/dicomweb/{north.qido_endpoint_id}"
    for patient, own in (
        (federation.ingrid, federation.north_ct[0].StudyInstanceUID),
        (_lars(federation), federation.north_mr[0].StudyInstanceUID),
    ):
        client = DICOMwebClient(qido, headers=federation.server.bearer(PATIENT_SCOPE, patient=patient))
        everything = _uids(client.search_for_studies())
        assert own in everything
        pages = _walk(client)
        assert [len(page) for page in pages] == [1] * len(everything) + [0]
        assert set().union(*pages) == everything
        assert _uids(client.search_for_studies(limit=1, get_remaining=True)) == everything
    # The federated root pages over the patient's studies at both hospitals.
    federated = _client(federation, "federated", federation.ingrid)
    everything = _uids(federated.search_for_studies())
    assert {federation.north_ct[0].StudyInstanceUID, federation.south_study[0].StudyInstanceUID} <= everything
    pages = _walk(federated)
    assert [len(page) for page in pages] == [1] * len(everything) + [0]
    assert set().union(*pages) == everything
    bad = httpx.get(f"{qido}/studies?limit=-1", headers=federation.server.bearer(), timeout=30)
    assert bad.status_code == 400
    assert bad.json()["issue"][0]["expression"] == ["limit"]


def test_responses_are_gzipped_when_accepted(federation: Federation) -> None:
    source = federation.north_ct[0]
    url = f"{_root(federation, 'north')}/studies/{source.StudyInstanceUID}/metadata"
    headers = federation.server.bearer()
    with httpx.Client(timeout=30) as client:
        plain = client.get(url, headers={**headers, "Accept-Encoding": "identity"})
        packed = client.get(url, headers={**headers, "Accept-Encoding": "gzip, deflate"})
        search = client.get(
            f"{_root(federation, 'federated')}/studies", headers={**headers, "Accept-Encoding": "gzip"}
        )
    assert "content-encoding" not in plain.headers
    assert packed.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["vary"]
    assert packed.json() == plain.json()  # httpx decoded it
    assert packed.num_bytes_downloaded < plain.num_bytes_downloaded / 3
    assert search.headers["content-encoding"] == "gzip"
    assert _uids(search.json()) >= {federation.north_ct[0].StudyInstanceUID}


def test_one_search_over_both_hospitals(federation: Federation) -> None:
    ingrid = federation.ingrid
    client = _client(federation, "federated", ingrid)
    found = client.search_for_studies()
    expected = {federation.north_ct[0].StudyInstanceUID, federation.south_study[0].StudyInstanceUID}
    assert expected <= _uids(found)  # other tests may add studies of Ingrid
    for result in found:
        assert result["00081190"]["Value"][0].startswith(_root(federation, "federated") + "/studies/")
    # Retrieval routes by Study UID to the hospital that holds it.
    south = federation.south_study[0]
    assert {i.SOPInstanceUID for i in client.retrieve_study(south.StudyInstanceUID)} == {
        s.SOPInstanceUID for s in federation.south_study
    }


def test_federated_root_is_no_oracle(federation: Federation) -> None:
    """Lars's study, asked for with Ingrid's token, is answered exactly like a study that does not exist."""
    root = _root(federation, "federated")
    headers = federation.server.bearer(PATIENT_SCOPE, patient=federation.ingrid)
    lars_study = federation.north_mr[0]
    answers = []
    for uid in (lars_study.StudyInstanceUID, "1.2.3.4.5.6.7"):
        for suffix in ("", "/metadata", f"/series/{lars_study.SeriesInstanceUID}"):
            response = httpx.get(f"{root}/studies/{uid}{suffix}", headers=headers, timeout=30)
            answers.append((response.status_code, response.json()["issue"][0]["diagnostics"]))
    assert {status for status, _ in answers} == {404}
    assert len({diagnostics for _, diagnostics in answers}) == 1
    assert httpx.get(f"{root}/studies", timeout=30).status_code == 401
    narrow = federation.server.bearer("patient/Observation.rs", patient=federation.ingrid)
    assert httpx.get(f"{root}/studies", headers=narrow, timeout=30).status_code == 403
    lars_sees = _uids(_client(federation, "federated", _lars(federation)).search_for_studies())
    assert lars_study.StudyInstanceUID in lars_sees
    assert not lars_sees & {
        federation.north_ct[0].StudyInstanceUID,
        federation.south_study[0].StudyInstanceUID,
    }
