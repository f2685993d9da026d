"""SMART Imaging Access (Argonaut 0.1.0, shared/specs/smart-imaging-access.md) as its tester checks it, with
real tokens against real Orthancs: discovery, the three searches with `_include=ImagingStudy:endpoint`, the
`requires-access-token` extension, 403 on a patient mismatch, full-study retrieval from the Endpoint's
address, and another patient's study denied at every WADO-RS level."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import httpx

from mappers.endpoint import REQUIRES_ACCESS_TOKEN
from tests.fhir_server.dicomweb.federation_setup import Federation

IMAGING_SCOPE = "patient/ImagingStudy.rs patient/Endpoint.rs"
FULL_STUDY = "multipart/related; type=application/dicom; transfer-syntax=*"


def _as(federation: Federation, patient: str) -> httpx.Client:
    headers = federation.server.bearer(IMAGING_SCOPE, patient=patient)
    return federation.client(**headers, Accept="application/fhir+json")


def _lars(federation: Federation) -> str:
    uid = federation.north_mr[0].StudyInstanceUID
    with federation.client() as client:
        bundle = client.get("/fhir/ImagingStudy", params={"identifier": f"urn:oid:{uid}"}).json()
    return str(bundle["entry"][0]["resource"]["subject"]["reference"].removeprefix("Patient/"))


def _by_mode(bundle: dict[str, Any], mode: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == mode]


def test_discovery_announces_imaging_access(federation: Federation) -> None:
    config = httpx.get(
        f"{federation.server.base_url}/fhir/.well-known/smart-configuration", timeout=30
    ).json()
    assert {
        "smart-imaging-access",
        "http://fhir.org/argonaut/smart-imaging/capabilities/app-launch",
        "http://fhir.org/argonaut/smart-imaging/capabilities/backend-services",
    } <= set(config["capabilities"])
    assert {"system/ImagingStudy.rs", "patient/ImagingStudy.rs"} <= set(config["scopes_supported"])
    assert {"authorization_code", "client_credentials"} <= set(config["grant_types_supported"])
    assert "private_key_jwt" in config["token_endpoint_auth_methods_supported"]


def test_the_three_searches_with_endpoints(federation: Federation) -> None:
    ingrid = federation.ingrid
    expected = {federation.north_ct[0].StudyInstanceUID, federation.south_study[0].StudyInstanceUID}
    include = {"_include": "ImagingStudy:endpoint"}
    with _as(federation, ingrid) as client:
        by_patient = client.get("/fhir/ImagingStudy", params={"patient": ingrid, **include}).json()
        past = (datetime.now(UTC) - timedelta(days=1)).isoformat(timespec="seconds")
        future = (datetime.now(UTC) + timedelta(days=1)).isoformat(timespec="seconds")
        since = client.get(
            "/fhir/ImagingStudy", params={"patient": ingrid, "_lastUpdated": f"gt{past}", **include}
        ).json()
        none_since = client.get(
            "/fhir/ImagingStudy", params={"patient": ingrid, "_lastUpdated": f"gt{future}", **include}
        ).json()
        south_uid = federation.south_study[0].StudyInstanceUID
        by_uid = client.get(
            "/fhir/ImagingStudy",
            params={"patient": f"Patient/{ingrid}", "identifier": f"urn:oid:{south_uid}", **include},
        ).json()
    for bundle, uids in ((by_patient, expected), (since, expected), (by_uid, {south_uid})):
        studies = _by_mode(bundle, "match")
        found = {_study_uid(s) for s in studies}
        # Other tests may add studies of Ingrid; only the one asked for by UID is exact.
        assert found == uids if bundle is by_uid else uids <= found
        endpoints = {e["id"]: e for e in _by_mode(bundle, "include")}
        for study in studies:
            assert study["status"] and study["subject"]["reference"] == f"Patient/{ingrid}"
            assert study["modality"]
            (wado,) = [
                endpoints[ref["reference"].removeprefix("Endpoint/")]
                for ref in study["endpoint"]
                if endpoints[ref["reference"].removeprefix("Endpoint/")]["connectionType"]["code"]
                == "dicom-wado-rs"
            ]
            assert {"url": REQUIRES_ACCESS_TOKEN, "valueBoolean": True} in wado["extension"]
    assert _by_mode(none_since, "match") == []


def test_every_wado_rs_endpoint_requires_the_token(federation: Federation) -> None:
    with federation.client(Accept="application/fhir+json") as client:
        bundle = client.get("/fhir/Endpoint", params={"connection-type": "dicom-wado-rs"}).json()
    endpoints = _by_mode(bundle, "match")
    assert {federation.north.wado_endpoint_id, federation.south.wado_endpoint_id} <= {
        e["id"] for e in endpoints
    }
    for endpoint in endpoints:
        flags = [
            e["valueBoolean"] for e in endpoint.get("extension", []) if e["url"] == REQUIRES_ACCESS_TOKEN
        ]
        assert flags == [True], endpoint["id"]


def test_patient_mismatch_is_403_never_an_empty_bundle(federation: Federation) -> None:
    lars = _lars(federation)
    with _as(federation, federation.ingrid) as client:
        answers = [
            client.get("/fhir/ImagingStudy", params={"patient": other, "_include": "ImagingStudy:endpoint"})
            for other in (lars, f"Patient/{lars}", "no-such-patient", f"{federation.ingrid},{lars}")
        ]
        answers.append(client.get("/fhir/ImagingStudy", params={"subject": f"Patient/{lars}"}))
        own = client.get("/fhir/ImagingStudy", params={"patient": federation.ingrid})
    for answer in answers:
        assert answer.status_code == 403, answer.text
        assert answer.json()["issue"][0]["code"] == "forbidden"
    # An existing patient and a made-up one are refused alike: the 403 depends on the token alone.
    assert answers[0].json() == answers[2].json()
    assert own.status_code == 200 and own.json()["total"] >= 2


def test_full_study_from_the_endpoint_address(federation: Federation) -> None:
    """The client's workflow: search with the token, append /studies/{uid} to Endpoint.address, same token."""
    ingrid = federation.ingrid
    headers = federation.server.bearer(IMAGING_SCOPE, patient=ingrid)
    with _as(federation, ingrid) as client:
        bundle = client.get(
            "/fhir/ImagingStudy", params={"patient": ingrid, "_include": "ImagingStudy:endpoint"}
        ).json()
    endpoints = {e["id"]: e for e in _by_mode(bundle, "include")}
    sources = {
        federation.north_ct[0].StudyInstanceUID: federation.north_ct,
        federation.south_study[0].StudyInstanceUID: federation.south_study,
    }
    for study in _by_mode(bundle, "match"):
        uid = _study_uid(study)
        if uid not in sources:
            continue  # a study another test added
        address = next(
            endpoints[r["reference"].removeprefix("Endpoint/")]["address"]
            for r in study["endpoint"]
            if endpoints[r["reference"].removeprefix("Endpoint/")]["connectionType"]["code"]
            == "dicom-wado-rs"
        )
        response = httpx.get(
            f"{address}/studies/{uid}", headers={**headers, "Accept": FULL_STUDY}, timeout=30
        )
        assert response.status_code == 200, response.text
        message = BytesParser(policy=HTTP).parsebytes(
            f"Content-Type: {response.headers['content-type']}\r\n\r\n".encode() + response.content
        )
        parts = list(message.iter_parts())
        assert len(parts) == len(sources[uid]) == study["numberOfInstances"]
        assert all(str(s.SOPInstanceUID).encode() in response.content for s in sources[uid])


def test_another_patients_study_is_denied_at_every_level(federation: Federation) -> None:
    source = federation.north_mr[0]
    headers = federation.server.bearer(IMAGING_SCOPE, patient=federation.ingrid)
    instance = f"series/{source.SeriesInstanceUID}/instances/{source.SOPInstanceUID}"
    levels = [
        "",
        "/metadata",
        f"/series/{source.SeriesInstanceUID}",
        f"/{instance}",
        f"/{instance}/frames/1",
        f"/{instance}/rendered",
        f"/{instance}/metadata",
        "/series",
    ]
    for root in (federation.north.wado_endpoint_id, "federated"):
        base = f"{federation.server.base_url}/dicomweb/{root}/studies/{source.StudyInstanceUID}"
        for level in levels:
            response = httpx.get(base + level, headers={**headers, "Accept": FULL_STUDY}, timeout=30)
            assert response.status_code == 404, (root, level)
            assert response.json()["resourceType"] == "OperationOutcome"


def _study_uid(study: dict[str, Any]) -> str:
    (identifier,) = [i for i in study["identifier"] if i.get("system") == "urn:dicom:uid"]
    return str(identifier["value"]).removeprefix("urn:oid:")
