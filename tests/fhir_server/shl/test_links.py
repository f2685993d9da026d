"""SMART Health Links end to end over real HTTP (SHL IG STU1 links-specification, the conformance checks
of /work/shared/specs/smart-health-links.md), followed with an independent receiver (shl_decoder)."""

from __future__ import annotations

import base64
import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from cryptography.exceptions import InvalidTag

from tests.fhir_server.shl.shl_client import (
    bundle_ids,
    create,
    fetch_files,
    manifest,
    parameters,
    qr_text,
    values,
)
from tests.fhir_server.shl.shl_decoder import b64d, decrypt, jwe_header, parse_link
from tests.server_process import SecuredServer

PATIENT, OTHER = "legacy-pat-901234", "legacy-pat-567890"


def test_patient_link_follows_end_to_end(clinician: httpx.Client) -> None:
    created = create(clinician, f"Patient/{PATIENT}", label="Imaging for Dr Smith")
    link = parse_link(created["link"])
    assert link.payload["label"] == "Imaging for Dr Smith" and link.flags == ""
    assert created["viewerUrl"].endswith("/shl/viewer#" + created["link"])
    assert len(link.url.rsplit("/", 1)[1]) >= 43  # >= 256 bits of entropy in the path
    ids = bundle_ids(fetch_files(created["link"]))
    assert {
        "Patient/legacy-pat-901234",
        "ImagingStudy/legacy-stu-20240115103000",
        "ImagingStudy/legacy-stu-20240220091500",
    } <= ids
    assert any(i.startswith("Endpoint/") for i in ids) and any(i.startswith("Organization/") for i in ids)
    assert "ImagingStudy/legacy-stu-20240305140000" not in ids


def test_study_link_has_one_study(clinician: httpx.Client) -> None:
    created = create(clinician, "ImagingStudy/legacy-stu-20240220091500")
    ids = bundle_ids(fetch_files(created["link"]))
    assert "Patient/legacy-pat-901234" in ids and "ImagingStudy/legacy-stu-20240220091500" in ids
    assert "ImagingStudy/legacy-stu-20240115103000" not in ids


def test_qr_codes_decode_to_the_link(clinician: httpx.Client, shl_server: SecuredServer) -> None:
    created = create(clinician, f"Patient/{PATIENT}")
    png = clinician.get(created["qr"])
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert qr_text(png.content) == created["viewerUrl"]
    bare = clinician.get(created["qr"] + "&viewer=false")
    assert qr_text(bare.content) == created["link"]
    svg = clinician.get(created["qr"] + "&format=svg")
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in svg.content
    assert clinician.get(created["qr"] + "&format=gif").status_code == 400
    for path in (f"/api/patients/{PATIENT}/qr", "/api/studies/legacy-stu-20240115103000/qr"):
        legacy = httpx.get(shl_server.origin + path, headers=dict(clinician.headers), timeout=30)
        assert legacy.status_code == 200, legacy.text
        text = qr_text(legacy.content)
        assert "#shlink:/" in text
        assert bundle_ids(fetch_files(text))
        again = httpx.get(shl_server.origin + path, headers=dict(clinician.headers), timeout=30)
        assert qr_text(again.content) == text  # the same link, not a new one each time
    assert httpx.get(shl_server.origin + f"/api/patients/{PATIENT}/qr", timeout=30).status_code == 401


def test_jwe_format_fresh_ivs_and_tampering(clinician: httpx.Client) -> None:
    created = create(clinician, f"Patient/{PATIENT}")
    link = parse_link(created["link"])
    tokens = [
        f["embedded"] for _ in range(2) for f in manifest(link, embeddedLengthMax=10**7).json()["files"]
    ]
    header = jwe_header(tokens[0])
    assert header == {"alg": "dir", "enc": "A256GCM", "cty": "application/fhir+json", "zip": "DEF"}
    assert tokens[0].split(".")[2] != tokens[1].split(".")[2]  # a fresh IV for every encryption
    assert decrypt(tokens[0], link.key)[1] == decrypt(tokens[1], link.key)[1]
    parts = tokens[0].split(".")
    tag = bytearray(b64d(parts[4]))
    tag[0] ^= 1

    parts[4] = base64.urlsafe_b64encode(bytes(tag)).decode().rstrip("=")
    with pytest.raises(InvalidTag):
        decrypt(".".join(parts), link.key)
    nothing = manifest(link, embeddedLengthMax=0).json()["files"]
    assert all("embedded" not in f and "location" in f for f in nothing)


def test_passcode_budget_is_exact_under_parallel_guesses(clinician: httpx.Client) -> None:
    created = create(clinician, f"Patient/{PATIENT}", passcode="1234")
    link = parse_link(created["link"])
    assert link.flags == "P"
    first = manifest(link)
    assert first.status_code == 401 and first.json() == {"remainingAttempts": 9}
    with ThreadPoolExecutor(5) as pool:
        answers = list(pool.map(lambda i: manifest(link, passcode=f"wrong-{i}"), range(20)))
    codes = sorted(a.status_code for a in answers)
    assert codes == [401] * 9 + [404] * 11
    assert sorted(a.json()["remainingAttempts"] for a in answers if a.status_code == 401) == list(range(9))
    assert manifest(link, passcode="1234").status_code == 404  # used up: dead even for the right passcode


def test_right_passcode_opens(clinician: httpx.Client) -> None:
    created = create(clinician, f"Patient/{PATIENT}", passcode="s3cret")
    assert manifest(parse_link(created["link"]), passcode="nope").json() == {"remainingAttempts": 9}
    assert bundle_ids(fetch_files(created["link"], passcode="s3cret"))


def test_single_file_link(clinician: httpx.Client) -> None:
    created = create(clinician, "ImagingStudy/legacy-stu-20240115103000", singleFile=True)
    link = parse_link(created["link"])
    assert link.flags == "U"
    assert "ImagingStudy/legacy-stu-20240115103000" in bundle_ids(fetch_files(created["link"]))
    assert manifest(link).status_code == 404


def test_long_term_link_shows_new_studies(clinician: httpx.Client) -> None:
    long_term = create(clinician, f"Patient/{OTHER}", longTerm=True)
    snapshot = create(clinician, f"Patient/{OTHER}")
    assert parse_link(long_term["link"]).flags == "L"
    assert manifest(parse_link(long_term["link"])).json()["status"] == "can-change"
    study = {
        "resourceType": "ImagingStudy",
        "status": "available",
        "subject": {"reference": f"Patient/{OTHER}"},
    }
    new = clinician.post("/ImagingStudy", json=study)
    assert new.status_code == 201, new.text
    new_ref = f"ImagingStudy/{new.json()['id']}"
    assert new_ref in bundle_ids(fetch_files(long_term["link"]))
    assert new_ref not in bundle_ids(fetch_files(snapshot["link"]))


def test_expiry_and_location_lifetime(clinician: httpx.Client, shl_server: SecuredServer) -> None:
    expires = (datetime.now(UTC) + timedelta(seconds=2)).isoformat().replace("+00:00", "Z")
    created = create(clinician, f"Patient/{PATIENT}", expires=expires)
    link = parse_link(created["link"])
    assert abs(link.payload["exp"] - (time.time() + 2)) < 2
    location = manifest(link).json()["files"][0]["location"]
    token = location.rsplit("/", 1)[1]
    stored = shl_server.connection.db["shl_locations"].find_one({"_id": token})
    assert stored is not None
    lifetime = stored["expires"].replace(tzinfo=UTC) - datetime.now(UTC)
    assert timedelta(minutes=59) < lifetime <= timedelta(hours=1)
    time.sleep(2.2)
    assert manifest(link).status_code == 404
    assert httpx.get(location).status_code == 404
    # A location older than its lifetime is refused even while its link lives.
    live = create(clinician, f"Patient/{PATIENT}")
    old = manifest(parse_link(live["link"])).json()["files"][0]["location"]
    shl_server.connection.db["shl_locations"].update_one(
        {"_id": old.rsplit("/", 1)[1]}, {"$set": {"expires": datetime.now(UTC) - timedelta(seconds=1)}}
    )
    assert httpx.get(old).status_code == 404


def test_listing_log_and_revocation(clinician: httpx.Client) -> None:
    created = create(clinician, f"Patient/{PATIENT}", label="for revocation", singleFile=False)
    link = parse_link(created["link"])
    location = manifest(link).json()["files"][0]["location"]
    listed = clinician.get(f"/Patient/{PATIENT}/$shl").json()
    mine = [values({"parameter": p["part"]}) for p in listed["parameter"]]
    assert any(m["id"] == created["id"] and m["status"] == "active" for m in mine)
    log = clinician.get(f"/Patient/{PATIENT}/$shl-log", params={"id": created["id"]})
    assert log.status_code == 200
    events = [e["resource"] for e in log.json()["entry"]]
    assert events and all(e["resourceType"] == "AuditEvent" for e in events)
    assert any("Test Clinic" in json.dumps(e["agent"]) for e in events)
    revoked = clinician.post(
        f"/Patient/{PATIENT}/$shl-revoke",
        json={"resourceType": "Parameters", "parameter": [{"name": "id", "valueString": created["id"]}]},
    )
    assert revoked.status_code == 200, revoked.text
    assert manifest(link).status_code == 404
    assert httpx.get(location).status_code == 404
    statuses = {
        values({"parameter": p["part"]})["id"]: values({"parameter": p["part"]})["status"]
        for p in clinician.get(f"/Patient/{PATIENT}/$shl").json()["parameter"]
    }
    assert statuses[created["id"]] == "revoked"
    single = create(clinician, f"Patient/{PATIENT}", singleFile=True)
    clinician.post(f"/Patient/{PATIENT}/$shl-revoke", params={"id": single["id"]})
    assert httpx.get(parse_link(single["link"]).url, params={"recipient": "x"}).status_code == 404


def test_image_access_token(clinician: httpx.Client, shl_server: SecuredServer) -> None:
    created = create(clinician, f"Patient/{PATIENT}", imageAccess=True)
    files = fetch_files(created["link"])
    assert [h["cty"] for h, _ in files] == ["application/fhir+json", "application/smart-api-access"]
    access = json.loads(files[1][1])
    assert access["aud"] == shl_server.base_url and access["patient"] == PATIENT
    assert access["expires_in"] <= 3600
    # The token names exactly what the link's bundle holds, type by type.
    shared = bundle_ids(files)
    for scope in access["scope"].split():
        resource_type, ids = scope.removeprefix("patient/").split(".rs?_id=")
        assert {f"{resource_type}/{i}" for i in ids.split(",")} == {
            i for i in shared if i.startswith(resource_type + "/")
        }
    with shl_server.client(access["access_token"]) as api:
        assert api.get(f"/Patient/{PATIENT}").status_code == 200
        studies = api.get("/ImagingStudy", params={"patient": f"Patient/{PATIENT}"}).json()
        assert {e["resource"]["id"] for e in studies.get("entry", [])} == {
            "legacy-stu-20240115103000",
            "legacy-stu-20240220091500",
        }
        assert api.get("/ImagingStudy/legacy-stu-20240305140000").status_code == 404
        assert api.get(f"/Patient/{OTHER}").status_code == 404
        write = api.post(
            "/ImagingStudy",
            json={
                "resourceType": "ImagingStudy",
                "status": "available",
                "subject": {"reference": f"Patient/{PATIENT}"},
            },
        )
        assert write.status_code == 403
        clinician.post(f"/Patient/{PATIENT}/$shl-revoke", params={"id": created["id"]})
        assert api.get(f"/Patient/{PATIENT}").status_code == 401  # the link's tokens die with it


def test_authorization_and_bad_input(shl_server: SecuredServer, clinician: httpx.Client) -> None:
    with shl_server.client(None) as anonymous:
        assert anonymous.post(f"/Patient/{PATIENT}/$shl", json=parameters()).status_code == 401
    token = shl_server.mint("patient/*.rs", patient=OTHER, role="patient", fhir_user=f"Patient/{OTHER}")
    with shl_server.client(token) as other:
        # Another patient's records are answered as absent (test_invisible_targets_answer_like_absent_ones).
        assert other.post(f"/Patient/{PATIENT}/$shl", json=parameters()).status_code == 404
        assert (
            other.post("/ImagingStudy/legacy-stu-20240115103000/$shl", json=parameters()).status_code == 404
        )
        assert other.get(f"/Patient/{PATIENT}/$shl").status_code == 404
        assert other.post(f"/Patient/{OTHER}/$shl", json=parameters()).status_code == 201
    # 403 only from the token's scopes, whatever the data: this token cannot read Patient at all.
    with shl_server.client(shl_server.mint("user/ImagingStudy.rs")) as studies_only:
        assert studies_only.post(f"/Patient/{PATIENT}/$shl", json=parameters()).status_code == 403
        assert studies_only.post("/Patient/nobody/$shl", json=parameters()).status_code == 403
    for body, name in [
        (parameters(label="x" * 81), "label"),
        (parameters(passcode="1", singleFile=True), "singleFile"),
        (parameters(expires="2001-01-01T00:00:00Z"), "expires"),
        (parameters(expires="tomorrow"), "expires"),
        (
            {"resourceType": "Parameters", "parameter": [{"name": "longTerm", "valueString": "yes"}]},
            "longTerm",
        ),
        ({"resourceType": "Parameters", "parameter": [{"name": "colour", "valueString": "red"}]}, "colour"),
    ]:
        response = clinician.post(f"/Patient/{PATIENT}/$shl", json=body)
        assert response.status_code == 400, body
        outcome = response.json()
        assert outcome["resourceType"] == "OperationOutcome" and name in json.dumps(outcome)
    assert clinician.post("/Patient/nobody/$shl", json=parameters()).status_code == 404
    missing = httpx.post(shl_server.origin + "/shl/m/" + "A" * 43, json={"recipient": "x"})
    assert missing.status_code == 404


def test_capability_statement_lists_operations(clinician: httpx.Client) -> None:
    statement = clinician.get("/metadata").json()
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert {"shl", "shl-log", "shl-revoke", "shl-qr"} <= {
        o["name"] for o in resources["Patient"]["operation"]
    }
    assert "shl" in {o["name"] for o in resources["ImagingStudy"]["operation"]}


def test_link_keys_are_sealed_under_a_master_key_outside_the_database(
    clinician: httpx.Client, shl_server: SecuredServer
) -> None:
    created = create(clinician, f"Patient/{PATIENT}", passcode="pin-1")
    raw_key = parse_link(created["link"]).payload["key"]
    stored = shl_server.connection.db["shl_links"].find_one({"_id": created["id"]})
    assert stored is not None
    assert raw_key not in json.dumps(stored, default=str) and "pin-1" not in json.dumps(stored, default=str)
    master = shl_server.running.data_dir / "master.key"
    assert master.stat().st_mode & 0o777 == 0o600
    manifest_answer = manifest(parse_link(created["link"]), passcode="pin-1", embeddedLengthMax=10**7).text
    assert raw_key not in manifest_answer
