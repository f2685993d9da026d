"""The DICOMweb proxy is no oracle for other patients' studies, over real HTTP with real SMART tokens.

Patient A is Ingrid, patient B is Lars (his MR knee study at North). With A's patient token, every proxy
path shape answers B's study exactly as it answers a study that does not exist: same status, same body, same
headers (all of them, apart from the date and the request id). A QIDO search lists only A's studies; a 403
depends on the token's scopes only; without a token everything is a 401, before any lookup.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from pydicom import Dataset

from fhir_server.dicomweb.orthanc.errors import NOT_FOUND_MESSAGE
from tests.fhir_server.dicomweb.federation_setup import Federation
from tests.fhir_server.dicomweb.orthanc_process import PASSWORD

PATIENT_SCOPE = "patient/ImagingStudy.rs"
# Never compared: they differ between any two responses.
_PER_RESPONSE_HEADERS = frozenset({"date", "x-request-id"})
NOWHERE = ("1.2.826.0.1.3680043.99.1", "1.2.826.0.1.3680043.99.2", "1.2.826.0.1.3680043.99.3")

# Every path shape the proxy serves within a study, from the study, series and instance UIDs.
PathShape = Callable[[str, str, str], str]
SHAPES: dict[str, PathShape] = {
    "study": lambda s, r, i: f"studies/{s}",
    "study metadata": lambda s, r, i: f"studies/{s}/metadata",
    "study rendered": lambda s, r, i: f"studies/{s}/rendered",
    "study thumbnail": lambda s, r, i: f"studies/{s}/thumbnail",
    "study series search": lambda s, r, i: f"studies/{s}/series",
    "study instances search": lambda s, r, i: f"studies/{s}/instances",
    "series": lambda s, r, i: f"studies/{s}/series/{r}",
    "series metadata": lambda s, r, i: f"studies/{s}/series/{r}/metadata",
    "series rendered": lambda s, r, i: f"studies/{s}/series/{r}/rendered",
    "series instances search": lambda s, r, i: f"studies/{s}/series/{r}/instances",
    "instance": lambda s, r, i: f"studies/{s}/series/{r}/instances/{i}",
    "instance metadata": lambda s, r, i: f"studies/{s}/series/{r}/instances/{i}/metadata",
    "instance rendered": lambda s, r, i: f"studies/{s}/series/{r}/instances/{i}/rendered",
    "instance thumbnail": lambda s, r, i: f"studies/{s}/series/{r}/instances/{i}/thumbnail",
    "frames": lambda s, r, i: f"studies/{s}/series/{r}/instances/{i}/frames/1",
    "rendered frames": lambda s, r, i: f"studies/{s}/series/{r}/instances/{i}/frames/1/rendered",
    "bulk data": lambda s, r, i: f"studies/{s}/series/{r}/instances/{i}/bulk/7fe00010",
}


def _uids(dataset: Dataset) -> tuple[str, str, str]:
    return str(dataset.StudyInstanceUID), str(dataset.SeriesInstanceUID), str(dataset.SOPInstanceUID)


def _endpoints(federation: Federation) -> list[str]:
    base = f"{federation.server.base_url}/dicomweb"
    north = federation.north
    return [f"{base}/{north.wado_endpoint_id}", f"{base}/{north.qido_endpoint_id}"]


def _comparable(response: httpx.Response) -> tuple[int, bytes, tuple[tuple[str, str], ...]]:
    """Status, body and every header a client could compare (hashable)."""
    headers = sorted(
        (k.lower(), v) for k, v in response.headers.items() if k.lower() not in _PER_RESPONSE_HEADERS
    )
    return response.status_code, response.content, tuple(headers)


@pytest.fixture(scope="module")
def patient_a(federation: Federation) -> httpx.Client:
    """Ingrid's viewer: a patient-scoped token with her as the launch context."""
    return httpx.Client(
        timeout=30, headers=federation.server.bearer(PATIENT_SCOPE, patient=federation.ingrid)
    )


@pytest.mark.parametrize("shape", SHAPES)
def test_another_patients_study_answers_exactly_like_a_missing_one(
    federation: Federation, patient_a: httpx.Client, shape: str
) -> None:
    path = SHAPES[shape]
    for endpoint in _endpoints(federation):
        others = patient_a.get(f"{endpoint}/{path(*_uids(federation.north_mr[0]))}")
        missing = patient_a.get(f"{endpoint}/{path(*NOWHERE)}")
        assert others.status_code == 404, (shape, others.text)
        assert others.json()["issue"][0]["diagnostics"] == NOT_FOUND_MESSAGE
        assert _comparable(others) == _comparable(missing), shape


@pytest.mark.parametrize("shape", ["study", "study metadata", "series", "instance metadata", "frames"])
def test_the_same_token_is_served_its_own_study(
    federation: Federation, patient_a: httpx.Client, shape: str
) -> None:
    """The 404s above are decisions, not broken paths: A's own study comes through the same shapes."""
    whole = 'multipart/related; type="application/dicom"; transfer-syntax=*'
    accept = {
        "study": whole,
        "series": whole,
        "frames": 'multipart/related; type="application/octet-stream"; transfer-syntax=*',
    }
    endpoint = _endpoints(federation)[0]
    response = patient_a.get(
        f"{endpoint}/{SHAPES[shape](*_uids(federation.north_ct[0]))}",
        headers={"Accept": accept.get(shape, "application/dicom+json")},
    )
    assert response.status_code == 200, (shape, response.text)


def test_own_study_cannot_reach_another_patients_series_or_instance(
    federation: Federation, patient_a: httpx.Client
) -> None:
    """Orthanc checks that a series or instance belongs to the study in the path: another patient's series
    under A's own study answers like a series that does not exist (a 404, or an empty search), and Orthanc's
    own text is not relayed."""
    own_study = str(federation.north_ct[0].StudyInstanceUID)
    _, lars_series, lars_instance = _uids(federation.north_mr[0])
    _, no_series, no_instance = NOWHERE
    endpoint = _endpoints(federation)[0]
    for path in (
        "series/{r}",
        "series/{r}/metadata",
        "series/{r}/instances",
        "series/{r}/instances/{i}",
        "series/{r}/instances/{i}/metadata",
        "series/{r}/instances/{i}/frames/1",
        "series/{r}/instances/{i}/rendered",
    ):
        others = patient_a.get(
            f"{endpoint}/studies/{own_study}/{path.format(r=lars_series, i=lars_instance)}"
        )
        missing = patient_a.get(f"{endpoint}/studies/{own_study}/{path.format(r=no_series, i=no_instance)}")
        assert _comparable(others) == _comparable(missing), path
        assert lars_series not in others.text and lars_instance not in others.text
        if path.endswith("/instances"):  # a search: nothing found
            assert others.status_code == 200 and others.json() == [], path
        else:
            assert others.status_code == 404, (path, others.status_code)
            assert others.json()["issue"][0]["diagnostics"] == NOT_FOUND_MESSAGE


def test_own_study_search_does_not_widen_through_query_parameters(
    federation: Federation, patient_a: httpx.Client
) -> None:
    own_study = str(federation.north_ct[0].StudyInstanceUID)
    lars_study, lars_series, _ = _uids(federation.north_mr[0])
    endpoint = _endpoints(federation)[1]
    for path, params in (
        (f"studies/{own_study}/series", {"StudyInstanceUID": lars_study}),
        (f"studies/{own_study}/instances", {"StudyInstanceUID": lars_study}),
        (f"studies/{own_study}/instances", {"SeriesInstanceUID": lars_series}),
        (f"studies/{own_study}/series/{lars_series}/instances", {}),
    ):
        response = patient_a.get(f"{endpoint}/{path}", params=params)
        assert response.status_code == 200, (path, params, response.text)
        # The study in the path wins over any query parameter: only A's own study's results, if any.
        assert {r["0020000D"]["Value"][0] for r in response.json()} <= {own_study}, (path, params)
        assert lars_study not in response.text and lars_series not in response.text, (path, params)


def test_qido_lists_only_the_callers_studies(federation: Federation, patient_a: httpx.Client) -> None:
    north, south = federation.north, federation.south
    base = f"{federation.server.base_url}/dicomweb"
    ingrid_at_north = str(federation.north_ct[0].StudyInstanceUID)
    ingrid_at_south = str(federation.south_study[0].StudyInstanceUID)
    lars = str(federation.north_mr[0].StudyInstanceUID)
    for level in ("studies", "series", "instances"):
        at_north = patient_a.get(f"{base}/{north.qido_endpoint_id}/{level}")
        assert at_north.status_code == 200, at_north.text
        assert {r["0020000D"]["Value"][0] for r in at_north.json()} == {ingrid_at_north}, level
        assert lars not in at_north.text
        at_south = patient_a.get(f"{base}/{south.qido_endpoint_id}/{level}")
        assert {r["0020000D"]["Value"][0] for r in at_south.json()} == {ingrid_at_south}, level
    # Asking for Lars's study by its UID finds nothing, as a UID that exists nowhere does.
    by_uid = patient_a.get(f"{base}/{north.qido_endpoint_id}/studies", params={"StudyInstanceUID": lars})
    nowhere = patient_a.get(
        f"{base}/{north.qido_endpoint_id}/studies", params={"StudyInstanceUID": NOWHERE[0]}
    )
    assert by_uid.status_code == nowhere.status_code == 200
    assert by_uid.json() == nowhere.json() == []
    # Lars himself sees his study and not Ingrid's.
    lars_id = _subject_of(federation, lars)
    as_lars = httpx.get(
        f"{base}/{north.qido_endpoint_id}/studies",
        headers=federation.server.bearer(PATIENT_SCOPE, patient=lars_id),
        timeout=30,
    )
    assert [r["0020000D"]["Value"][0] for r in as_lars.json()] == [lars]


def _subject_of(federation: Federation, study_uid: str) -> str:
    with federation.client() as client:
        bundle = client.get("/fhir/ImagingStudy", params={"identifier": f"urn:dicom:uid|urn:oid:{study_uid}"})
    (entry,) = bundle.json()["entry"]
    return str(entry["resource"]["subject"]["reference"]).removeprefix("Patient/")


def test_a_403_depends_on_the_tokens_scopes_only(federation: Federation) -> None:
    """No search scope on ImagingStudy: QIDO across studies is a 403 before Orthanc is asked. No read scope:
    every study path is the same 403, whether the study is the caller's, another's or none at all."""
    server, north = federation.server, federation.north
    base = f"{server.base_url}/dicomweb/{north.qido_endpoint_id}"
    read_only = server.bearer("patient/ImagingStudy.r", patient=federation.ingrid)
    search = httpx.get(f"{base}/studies", headers=read_only, timeout=30)
    assert search.status_code == 403 and search.json()["issue"][0]["code"] == "forbidden"
    no_studies = server.bearer("patient/Patient.rs", patient=federation.ingrid)
    answers = [
        httpx.get(f"{base}/studies/{uid}/metadata", headers=no_studies, timeout=30)
        for uid in (
            federation.north_ct[0].StudyInstanceUID,
            federation.north_mr[0].StudyInstanceUID,
            NOWHERE[0],
        )
    ]
    assert {a.status_code for a in answers} == {403}
    assert len({_comparable(a) for a in answers}) == 1


def test_no_token_is_a_401_on_every_path_before_any_lookup(federation: Federation) -> None:
    server = federation.server
    lars = _uids(federation.north_mr[0])
    paths = [f"{endpoint}/{shape(*lars)}" for endpoint in _endpoints(federation) for shape in SHAPES.values()]
    paths += [f"{_endpoints(federation)[1]}/{level}" for level in ("studies", "series", "instances")]
    paths += [f"{server.base_url}/dicomweb/no-such-endpoint/studies/{NOWHERE[0]}"]
    answers = [httpx.get(path, timeout=30) for path in paths]
    for path, answer in zip(paths, answers, strict=True):
        assert answer.status_code == 401, path
        assert answer.headers["www-authenticate"].startswith("Bearer ")
        assert answer.json()["resourceType"] == "OperationOutcome"
        assert PASSWORD not in answer.text
    # Nothing in a 401 depends on what was asked for.
    assert len({_comparable(a)[1:] for a in answers}) == 1
    forged = httpx.get(paths[0], headers={"Authorization": "Bearer not-a-token"}, timeout=30)
    assert forged.status_code == 401


def test_orthanc_error_text_is_not_relayed(federation: Federation) -> None:
    """A QIDO query Orthanc refuses: the client gets a generic OperationOutcome, not Orthanc's message."""
    base = f"{federation.server.base_url}/dicomweb/{federation.north.qido_endpoint_id}"
    response = httpx.get(
        f"{base}/studies",
        params={"fuzzymatching": "not-a-boolean"},
        headers=federation.server.bearer(),
        timeout=30,
    )
    assert response.status_code == 400
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome" and outcome["issue"][0]["code"] == "invalid"
    assert "not-a-boolean" not in response.text
    assert "Orthanc" not in response.text and "North Hospital" not in response.text
