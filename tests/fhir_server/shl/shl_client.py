"""Test helpers: create links through the $shl operation, follow them as a receiver would."""

from __future__ import annotations

import io
from typing import Any

import httpx
from PIL import Image
from pyzbar.pyzbar import decode
from shl_decoder import ParsedLink, decrypt, parse_link


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
