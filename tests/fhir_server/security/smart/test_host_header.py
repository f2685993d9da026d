"""The server's own base URL never comes from the Host header (fhir_server.security.server_base): it is
FHIR_PUBLIC_BASE_URL or the bind address. A client that writes the Host header differently (no port, as some
proxies and clients do) is still accepted; a forged Host neither widens the accepted token audiences nor
appears in any URL the server writes."""

from __future__ import annotations

import base64
import json
from urllib.parse import urlencode, urlsplit

import httpx
import pytest

from fhir_server.security.server_base import fhir_base
from fhir_server.settings import Settings
from tests.fhir_server.security.smart.smart_support import HTTP, PATIENT_A, PUBLIC_APP, REDIRECT, SmartServer

EVIL = "evil.example"


def _client(smart: SmartServer, host: str, token: str | None) -> httpx.Client:
    headers = {"Accept": "application/fhir+json", "Host": host}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.Client(base_url=smart.base_url, headers=headers, timeout=30)


def test_bind_address_is_the_base_without_a_public_url() -> None:
    assert fhir_base(Settings(host="127.0.0.1", port=8080)) == "http://127.0.0.1:8080/fhir"
    assert fhir_base(Settings(host="0.0.0.0", port=9000)) == "http://127.0.0.1:9000/fhir"
    assert fhir_base(Settings(host="::1", port=8080)) == "http://[::1]:8080/fhir"
    configured = Settings(host="0.0.0.0", port=8080, public_base_url="https://fhir.example.org/fhir/")
    assert fhir_base(configured) == "https://fhir.example.org/fhir"


def test_host_without_port_is_accepted(smart: SmartServer) -> None:
    # The token's audience is the bind address (http://127.0.0.1:PORT/fhir); the client names no port.
    with _client(smart, "127.0.0.1", smart.mint("user/*.rs", role="clinician")) as c:
        response = c.get(f"/Patient/{PATIENT_A}")
    assert response.status_code == 200, response.text
    assert response.json()["id"] == PATIENT_A


def test_forged_host_does_not_make_its_audience_acceptable(smart: SmartServer) -> None:
    for host in (EVIL, "127.0.0.1"):
        foreign = smart.mint("user/*.rs", role="clinician", aud=f"http://{host}/fhir")
        with _client(smart, host, foreign) as c:
            response = c.get(f"/Patient/{PATIENT_A}")
        assert response.status_code == 401, (host, response.text)
        assert "audience" in response.text
        assert EVIL not in response.headers["www-authenticate"]
        assert smart.base_url in response.headers["www-authenticate"]


def test_forged_host_is_in_no_url_of_search_read_and_create(smart: SmartServer) -> None:
    with _client(smart, EVIL, smart.mint("user/*.cruds", role="clinician")) as c:
        bundle = c.get("/Patient", params={"_count": 1})
        read = c.get(f"/Patient/{PATIENT_A}")
        created = c.post("/Organization", json={"resourceType": "Organization", "name": "Host header test"})
        assert created.status_code == 201, created.text
        organization = created.json()["id"]
        assert c.delete(f"/Organization/{organization}").status_code in (200, 204)
    assert bundle.status_code == 200 and read.status_code == 200
    body = bundle.json()
    assert EVIL not in bundle.text and EVIL not in read.text
    assert all(link["url"].startswith(smart.base_url + "/") for link in body["link"])
    assert all(e["fullUrl"].startswith(smart.base_url + "/") for e in body["entry"])
    assert created.headers["location"].startswith(f"{smart.base_url}/Organization/{organization}/_history/")


def test_forged_host_is_in_no_discovery_document(smart: SmartServer) -> None:
    with _client(smart, EVIL, None) as c:
        smart_configuration = c.get("/.well-known/smart-configuration")
        metadata = c.get("/metadata")
    assert smart_configuration.status_code == 200 and metadata.status_code == 200
    for document in (smart_configuration, metadata):
        assert EVIL not in document.text
    assert smart_configuration.json()["token_endpoint"] == smart.urls.token
    assert metadata.json()["implementation"]["url"] == smart.base_url
    config = HTTP.get(f"{smart.origin}/app/api/config", headers={"Host": EVIL}).json()
    assert config["fhirBase"] == smart.base_url
    assert config["redirectUri"] == f"{smart.origin}/app/callback"


def test_forged_host_is_in_no_smart_health_link(smart: SmartServer) -> None:
    with _client(smart, EVIL, smart.mint("user/*.cruds", role="clinician")) as c:
        response = c.post(f"/Patient/{PATIENT_A}/$shl", json={"resourceType": "Parameters", "parameter": []})
    assert response.status_code == 201, response.text
    assert EVIL not in response.text
    link = next(p["valueString"] for p in response.json()["parameter"] if p["name"] == "link")
    payload = link.split("shlink:/", 1)[1]
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert decoded["url"].startswith(smart.origin + "/shl/")


@pytest.mark.parametrize("aud_host", [EVIL, None])
def test_authorize_checks_aud_against_the_bind_address(smart: SmartServer, aud_host: str | None) -> None:
    aud = f"http://{aud_host}/fhir" if aud_host else smart.base_url
    params = {
        "response_type": "code",
        "client_id": PUBLIC_APP,
        "redirect_uri": REDIRECT,
        "scope": "patient/*.rs",
        "state": "s1",
        "aud": aud,
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
    }
    response = HTTP.get(f"{smart.urls.authorize}?{urlencode(params)}", headers={"Host": EVIL})
    if aud_host:
        assert 'action="/auth/login"' not in response.text
        redirect = response.headers.get("location", "")
        assert response.status_code in (302, 400) and (not redirect or urlsplit(redirect).netloc != EVIL)
    else:
        assert response.status_code == 200 and 'action="/auth/login"' in response.text
        assert EVIL not in response.text
