"""A SMART Health Link never grants more than its creator holds, over real HTTP with the demo data (John Doe,
legacy-pat-901234: the XR study legacy-stu-20240115103000 and the CT study legacy-stu-20240220091500):

- targets the creator may not read are answered exactly like absent ones (no existence oracle);
- a study link opens that study only, through its files and through its image-access token;
- a link shows the intersection of its creator's scopes and what it names, and stops when the creator's user
  is deleted or disabled;
- a U link needs `recipient`; passcode attempts are taken before the comparison, exact under 40 parallel
  guesses.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from fhir_server.security.accounts.users import UserRegistry
from tests.fhir_server.shl.shl_client import (
    bundle_ids,
    create,
    fetch_files,
    image_access,
    link_summary,
    log_descriptions,
    manifest,
    mint_as,
    parameters,
)
from tests.fhir_server.shl.shl_decoder import parse_link
from tests.server_process import SecuredServer

PATIENT, OTHER = "legacy-pat-901234", "legacy-pat-567890"
XR, CT = "legacy-stu-20240115103000", "legacy-stu-20240220091500"
BUDGET = 10  # FHIR_SHL_PASSCODE_ATTEMPTS, default
PARALLEL = 40


def _same_answer(hidden: httpx.Response, hidden_id: str, absent: httpx.Response, absent_id: str) -> None:
    """Status, body (but for the id asked about) and the headers that could tell them apart are equal."""
    assert hidden.status_code == absent.status_code == 404, (hidden.text, absent.text)
    assert hidden.text.replace(hidden_id, "ID") == absent.text.replace(absent_id, "ID")
    for header in ("content-type", "www-authenticate", "etag"):
        assert hidden.headers.get(header) == absent.headers.get(header), header


def test_invisible_targets_answer_like_absent_ones(shl_server: SecuredServer) -> None:
    token = shl_server.mint("patient/*.rs", patient=OTHER, role="patient", fhir_user=f"Patient/{OTHER}")
    hidden_patient, absent_patient = PATIENT, "legacy-pat-000000"
    hidden_study, absent_study = XR, "legacy-stu-00000000000000"
    with shl_server.client(token) as other:
        for method, path, hidden, absent in [
            ("POST", "/Patient/{}/$shl", hidden_patient, absent_patient),
            ("POST", "/ImagingStudy/{}/$shl", hidden_study, absent_study),
            ("GET", "/Patient/{}/$shl", hidden_patient, absent_patient),
            ("GET", "/Patient/{}/$shl-log?id=some-link", hidden_patient, absent_patient),
            ("GET", "/Patient/{}/$shl-qr?id=some-link", hidden_patient, absent_patient),
            ("POST", "/Patient/{}/$shl-revoke?id=some-link", hidden_patient, absent_patient),
        ]:
            body = parameters() if method == "POST" else None
            _same_answer(
                other.request(method, path.format(hidden), json=body),
                hidden,
                other.request(method, path.format(absent), json=body),
                absent,
            )
        headers = dict(other.headers)
    for path, hidden, absent in [
        ("/api/patients/{}/qr", hidden_patient, absent_patient),
        ("/api/studies/{}/qr", hidden_study, absent_study),
    ]:
        _same_answer(
            httpx.get(shl_server.origin + path.format(hidden), headers=headers, timeout=30),
            hidden,
            httpx.get(shl_server.origin + path.format(absent), headers=headers, timeout=30),
            absent,
        )


@pytest.mark.parametrize("long_term", [False, True])
def test_study_link_opens_only_its_study(
    clinician: httpx.Client, shl_server: SecuredServer, long_term: bool
) -> None:
    created = create(clinician, f"ImagingStudy/{CT}", imageAccess=True, longTerm=long_term)
    files = fetch_files(created["link"])
    shared = bundle_ids(files)
    assert f"ImagingStudy/{CT}" in shared and f"Patient/{PATIENT}" in shared
    assert f"ImagingStudy/{XR}" not in shared
    access = image_access(files)
    assert f"patient/ImagingStudy.rs?_id={CT}" in access["scope"].split()
    with shl_server.client(access["access_token"]) as api:
        assert api.get(f"/ImagingStudy/{CT}").status_code == 200
        assert api.get(f"/Patient/{PATIENT}").status_code == 200
        # The patient's other study: absent for this token, by read and by search.
        assert api.get(f"/ImagingStudy/{XR}").status_code == 404
        found = api.get("/ImagingStudy", params={"patient": f"Patient/{PATIENT}"}).json()
        assert [e["resource"]["id"] for e in found.get("entry", [])] == [CT]
        everything = api.get(f"/Patient/{PATIENT}/$everything")
        assert everything.status_code == 200, everything.text
        entries = everything.json()["entry"]
        assert {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in entries} == shared
        # Nor can the token share what it cannot read.
        assert api.post(f"/ImagingStudy/{XR}/$shl", json=parameters()).status_code == 404


def _narrow_creator(shl_server: SecuredServer) -> httpx.Client:
    scopes = (
        "patient/Patient.rs patient/ImagingStudy.rs?modality=CT patient/Endpoint.rs patient/Organization.rs"
    )
    return shl_server.client(shl_server.mint(scopes, patient=PATIENT, fhir_user="Practitioner/dr-who"))


@pytest.mark.parametrize("long_term", [False, True])
def test_a_link_never_shows_more_than_its_creators_scopes(shl_server: SecuredServer, long_term: bool) -> None:
    with _narrow_creator(shl_server) as creator:
        created = create(creator, f"Patient/{PATIENT}", imageAccess=True, longTerm=long_term)
        files = fetch_files(created["link"])
        shared = bundle_ids(files)
        assert f"ImagingStudy/{CT}" in shared
        assert f"ImagingStudy/{XR}" not in shared  # the creator may not read the XR study
        access = image_access(files)
        with shl_server.client(access["access_token"]) as api:
            assert api.get(f"/ImagingStudy/{CT}").status_code == 200
            assert api.get(f"/ImagingStudy/{XR}").status_code == 404
            found = api.get("/ImagingStudy", params={"patient": f"Patient/{PATIENT}"}).json()
            assert [e["resource"]["id"] for e in found.get("entry", [])] == [CT]
        # A study link for the study it may not read is refused like one for no study at all.
        _same_answer(
            creator.post(f"/ImagingStudy/{XR}/$shl", json=parameters()),
            XR,
            creator.post("/ImagingStudy/legacy-stu-00000000000000/$shl", json=parameters()),
            "legacy-stu-00000000000000",
        )


@pytest.mark.parametrize("deactivate", ["delete", "disable"])
def test_a_link_stops_when_its_creators_user_is_deleted_or_disabled(
    shl_server: SecuredServer, clinician: httpx.Client, deactivate: str
) -> None:
    users = UserRegistry(shl_server.connection.documents)
    name = f"sharer-{deactivate}"
    users.add(name, "a-long-password-1", "clinician", "Practitioner/dr-who")
    token = mint_as(shl_server, name, "user/*.rs", fhir_user="Practitioner/dr-who")
    with shl_server.client(token) as creator:
        long_term = create(creator, f"Patient/{PATIENT}", longTerm=True, imageAccess=True)
        snapshot = create(creator, f"Patient/{PATIENT}")
        single = create(creator, f"ImagingStudy/{CT}", singleFile=True)
    assert f"ImagingStudy/{XR}" in bundle_ids(fetch_files(long_term["link"]))
    location = manifest(parse_link(snapshot["link"])).json()["files"][0]["location"]
    assert httpx.get(location, timeout=30).status_code == 200

    if deactivate == "delete":
        assert users.remove(name)
    else:
        assert users.set_disabled(name, True) is not None
    for created in (long_term, snapshot):
        assert manifest(parse_link(created["link"])).status_code == 404
        assert link_summary(clinician, PATIENT, created["id"])["status"] == "suspended"
    assert httpx.get(location, timeout=30).status_code == 404
    single_url = parse_link(single["link"]).url
    assert httpx.get(single_url, params={"recipient": "Test Clinic"}, timeout=30).status_code == 404
    if deactivate == "disable":
        # Re-enabling the account does not bring the links back (as with its tokens).
        users.set_disabled(name, False)
        assert manifest(parse_link(long_term["link"])).status_code == 404


def test_single_file_link_requires_recipient(clinician: httpx.Client) -> None:
    created = create(clinician, f"ImagingStudy/{CT}", singleFile=True)
    url = parse_link(created["link"]).url
    for params in ({}, {"recipient": ""}, {"recipient": "   "}):
        answer = httpx.get(url, params=params, timeout=30)
        assert answer.status_code == 400, params
        outcome = answer.json()
        assert outcome["resourceType"] == "OperationOutcome"
        assert outcome["issue"][0]["expression"] == ["recipient"]
    assert httpx.get(url, params={"recipient": "Test Clinic"}, timeout=30).status_code == 200
    # The manifest request too (the existing rule), for a link without U.
    plain = parse_link(create(clinician, f"Patient/{PATIENT}")["link"])
    answer = httpx.post(plain.url, json={}, timeout=30)
    assert answer.status_code == 400 and answer.json()["issue"][0]["expression"] == ["recipient"]


def test_passcode_attempts_are_taken_before_comparing_under_parallel_guesses(
    clinician: httpx.Client, shl_server: SecuredServer
) -> None:
    created = create(clinician, f"Patient/{PATIENT}", passcode="the-right-one")
    link = parse_link(created["link"])
    start = threading.Barrier(PARALLEL)

    def guess(i: int) -> httpx.Response:
        with httpx.Client(timeout=120) as http:
            start.wait()  # all guesses leave together: a real race for the last attempts
            return http.post(link.url, json={"recipient": f"guesser {i}", "passcode": f"wrong-{i}"})

    with ThreadPoolExecutor(PARALLEL) as pool:
        answers = list(pool.map(guess, range(PARALLEL)))
    refused = [a for a in answers if a.status_code == 401]
    assert sorted(a.status_code for a in answers) == [401] * BUDGET + [404] * (PARALLEL - BUDGET)
    assert sorted(a.json()["remainingAttempts"] for a in refused) == list(range(BUDGET))
    # Used up: dead even for the right passcode, and the count stopped at zero.
    assert manifest(link, passcode="the-right-one").status_code == 404
    stored = shl_server.connection.db["shl_links"].find_one({"_id": created["id"]})
    assert stored is not None and stored["attempts"] == 0
    summary = link_summary(clinician, PATIENT, created["id"])
    assert summary["remainingAttempts"] == 0 and summary["status"] == "exhausted"
    # Exactly BUDGET guesses were compared; every other one was turned away before its comparison (by the
    # link's status, or by losing the race for an attempt: those are logged as not compared).
    log = log_descriptions(clinician, PATIENT, created["id"])
    assert sum("wrong passcode" in d for d in log) == BUDGET
    assert sum("used up, not compared" in d for d in log) <= PARALLEL - BUDGET


def test_the_right_passcode_costs_no_attempt(clinician: httpx.Client) -> None:
    created = create(clinician, f"Patient/{PATIENT}", passcode="pin-2468")
    link = parse_link(created["link"])
    for _ in range(3):
        assert manifest(link, passcode="pin-2468").status_code == 200
    assert link_summary(clinician, PATIENT, created["id"])["remainingAttempts"] == BUDGET
    assert manifest(link, passcode="nope").json() == {"remainingAttempts": BUDGET - 1}
    assert manifest(link).json() == {"remainingAttempts": BUDGET - 2}  # missing counts as wrong
