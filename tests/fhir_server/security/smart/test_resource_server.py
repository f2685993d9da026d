"""The resource server's authentication (RFC 6750, App Launch 2.2): missing, malformed, expired,
wrong-audience, foreign-signed and revoked tokens are 401 with `WWW-Authenticate: Bearer … invalid_token`
and an OperationOutcome; /fhir and /dicomweb alike."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from fhir_server.security.oauth.urls import Urls
from tests.fhir_server.security.smart.smart_support import HTTP, PATIENT_A, SmartServer


def _assert_401(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer realm=")
    assert 'error="invalid_token"' in challenge
    assert response.json()["resourceType"] == "OperationOutcome"


def test_missing_token_is_401(smart: SmartServer) -> None:
    _assert_401(HTTP.get(f"{smart.base_url}/Patient/{PATIENT_A}"))
    _assert_401(HTTP.post(smart.base_url, json={"resourceType": "Bundle", "type": "batch"}))
    _assert_401(HTTP.get(f"{smart.origin}/dicomweb/studies"))


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer not-a-jwt", "Bearer a.b.c"])
def test_malformed_credentials_are_401(smart: SmartServer, header: str) -> None:
    _assert_401(HTTP.get(f"{smart.base_url}/Patient/{PATIENT_A}", headers={"Authorization": header}))


def test_valid_token_is_accepted(smart: SmartServer) -> None:
    with smart.client(smart.mint("system/Patient.r")) as c:
        assert c.get(f"/Patient/{PATIENT_A}").status_code == 200


def test_expired_token_is_401(smart: SmartServer) -> None:
    token = smart.mint("system/*.cruds", lifetime=-120)
    with smart.client(token) as c:
        response = c.get(f"/Patient/{PATIENT_A}")
    _assert_401(response)
    assert "expired" in response.headers["www-authenticate"]


def test_token_for_another_audience_is_401(smart: SmartServer) -> None:
    token = smart.mint("system/*.cruds", aud="https://other-ehr.example/fhir")
    with smart.client(token) as c:
        response = c.get(f"/Patient/{PATIENT_A}")
    _assert_401(response)
    assert "audience" in response.headers["www-authenticate"]


def test_token_signed_with_another_key_is_401(smart: SmartServer) -> None:
    forged_key = RSAKey.generate_key(2048)
    urls = Urls.for_base(smart.base_url)
    now = int(time.time())
    claims = {
        "iss": urls.issuer,
        "aud": urls.fhir_base,
        "sub": "x",
        "scope": "system/*.cruds",
        "iat": now,
        "exp": now + 300,
        "jti": "forged",
    }
    our_kid = HTTP.get(urls.jwks).json()["keys"][0]["kid"]
    token = jwt.encode({"alg": "RS256", "kid": our_kid, "typ": "at+jwt"}, claims, forged_key)
    with smart.client(token) as c:
        _assert_401(c.get(f"/Patient/{PATIENT_A}"))


def test_unsigned_token_is_401(smart: SmartServer) -> None:
    urls = Urls.for_base(smart.base_url)
    header = '{"alg":"none","typ":"at+jwt"}'
    import base64

    def b64(text: str) -> str:
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    claims = {
        "iss": urls.issuer,
        "aud": urls.fhir_base,
        "scope": "system/*.cruds",
        "exp": int(time.time()) + 300,
    }
    body = json.dumps({**claims, "jti": "x"})
    with smart.client(f"{b64(header)}.{b64(body)}.") as c:
        _assert_401(c.get(f"/Patient/{PATIENT_A}"))


def test_metadata_and_discovery_need_no_token(smart: SmartServer) -> None:
    assert HTTP.get(f"{smart.base_url}/metadata").status_code == 200
    assert HTTP.get(f"{smart.base_url}/.well-known/smart-configuration").status_code == 200


def test_cors_preflight_and_401_are_readable_by_browser_apps(smart: SmartServer) -> None:
    origin = {"Origin": "https://viewer.example"}
    preflight = HTTP.options(
        f"{smart.base_url}/Patient/{PATIENT_A}",
        headers={
            **origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert preflight.status_code == 200
    response = HTTP.get(f"{smart.base_url}/Patient/{PATIENT_A}", headers=origin)
    assert response.status_code == 401
    assert response.headers["access-control-allow-origin"] == "*"
    assert "www-authenticate" in response.headers["access-control-expose-headers"].lower()
