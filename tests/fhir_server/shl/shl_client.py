"""Test helpers: create links through the $shl operation, follow them as a receiver would."""

from __future__ import annotations

import io
import json
from typing import Any

import httpx
from PIL import Image
from pyzbar.pyzbar import decode

from fhir_server.security.oauth.access_tokens import Grant, mint_access_token
from fhir_server.security.oauth.signing_keys import KeyStore
from fhir_server.security.oauth.urls import Urls
from tests.fhir_server.shl.shl_decoder import ParsedLink, decrypt, parse_link
from tests.server_process import SecuredServer


def parameters(**values: Any) -> dict[str, Any]:
    kinds = {bool: "valueBoolean", str: "valueString"}
    params = []
    for name, value in values.items():
        kind = "valueDateTime" if name == "expires" else kinds[type(value)]
        params.append({"name": name, kind: value})
    return {"resourceType": "Parameters", "parameter": params}


def values(resource: dict[str, Any]) -> dict[str, Any]:
    return {p["name"]: next(v for k, v in p.items() if k.startswith("value")) for p in resource["parameter"]}


def create(client: httpx.Client, target: str, **options: Any) -> dict[str, Any]:
    response = client.post(f"/{target}/$shl", json=parameters(**options))
    assert response.status_code == 201, response.text
    return values(response.json())


def qr_text(image: bytes) -> str:
    """Decode a QR image with zbar (a real decoder); byte mode, so the text comes back unchanged."""
    found = decode(Image.open(io.BytesIO(image)))
    assert len(found) == 1
    return found[0].data.decode("utf-8")


def manifest(link: ParsedLink, **body: Any) -> httpx.Response:
    return httpx.post(link.url, json={"recipient": "Test Clinic", **body}, timeout=30)


def fetch_files(link_text: str, **body: Any) -> list[tuple[dict[str, Any], bytes]]:
    """Viewer algorithm steps 3-4: manifest (or U GET), then each file, decrypted."""
    link = parse_link(link_text)
    if "U" in link.flags:
        response = httpx.get(link.url, params={"recipient": "Test Clinic"}, timeout=30)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/jose")
        return [decrypt(response.text, link.key)]
    response = manifest(link, **body)
    assert response.status_code == 200, response.text
    files = []
    for file in response.json()["files"]:
        if "embedded" in file:
            token = file["embedded"]
        else:
            got = httpx.get(file["location"], timeout=30)
            assert got.status_code == 200, got.text
            assert got.headers["content-type"].startswith("application/jose")
            token = got.text
        header, plaintext = decrypt(token, link.key)
        assert header["cty"] == file["contentType"]
        files.append((header, plaintext))
    return files


def bundle_ids(files: list[tuple[dict[str, Any], bytes]]) -> set[str]:
    """`Type/id` of every resource of the link's Bundle (its first file)."""
    (_header, plaintext), *_ = files
    bundle = json.loads(plaintext)
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    return {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"]}


def image_access(files: list[tuple[dict[str, Any], bytes]]) -> dict[str, Any]:
    """The `application/smart-api-access` file of a link made with imageAccess."""
    found = [json.loads(plain) for header, plain in files if header["cty"] == "application/smart-api-access"]
    assert len(found) == 1
    access: dict[str, Any] = found[0]
    return access


def mint_as(
    server: SecuredServer,
    subject: str,
    scope: str,
    *,
    patient: str | None = None,
    fhir_user: str | None = None,
    role: str | None = "clinician",
) -> str:
    """A token for a named user (SecuredServer.mint's are all for "tester"), as the token endpoint would
    mint it, with the server's own keys."""
    grant = Grant(subject, scope, "test", patient, fhir_user, role)
    keys = KeyStore(server.connection.documents)
    token, _ = mint_access_token(keys, Urls.for_base(server.base_url), grant, 600)
    return token


def log_descriptions(client: httpx.Client, patient: str, link_id: str) -> list[str]:
    """The access log of a link ($shl-log): each event's outcome description."""
    answer = client.get(f"/Patient/{patient}/$shl-log", params={"id": link_id})
    assert answer.status_code == 200, answer.text
    return [str(e["resource"].get("outcomeDesc", "")) for e in answer.json().get("entry", [])]


def link_summary(client: httpx.Client, patient: str, link_id: str) -> dict[str, Any]:
    """The link's part of the patient's listing (GET $shl): status, remainingAttempts, …"""
    listed = client.get(f"/Patient/{patient}/$shl")
    assert listed.status_code == 200, listed.text
    for part in listed.json()["parameter"]:
        summary = values({"parameter": part["part"]})
        if summary["id"] == link_id:
            return summary
    raise AssertionError(f"link {link_id} is not listed")
