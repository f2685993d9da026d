"""SMART Backend Services (client_credentials + private_key_jwt), driven with authlib's OAuth 2 client and
its `PrivateKeyJWT` client authentication — RS384 with keys registered inline, ES384 with keys published at
a JWKS URL — and every assertion defect a conformance tester tries, each answered `invalid_client`."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, RSAKey

from tests.fhir_server.security.smart.smart_support import (
    BACKEND_ES,
    BACKEND_RS,
    HTTP,
    PATIENT_A,
    PUBLIC_APP,
    TLS,
    SmartServer,
)

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def fetch(
    smart: SmartServer,
    client_id: str,
    key: RSAKey | ECKey,
    alg: str,
    *,
    scope: str = "system/*.rs",
    claims: dict[str, Any] | None = None,
    headers: dict[str, Any] | None = None,
    audience: str | None = None,
) -> dict[str, Any]:
    auth = PrivateKeyJWT(
        audience or smart.urls.token,
        claims={"exp": int(time.time()) + 240, **(claims or {})},
        headers={"kid": key.kid, **(headers or {})},
        alg=alg,
    )
    with OAuth2Client(client_id, key, token_endpoint_auth_method=auth, scope=scope, verify=TLS) as client:
        return dict(client.fetch_token(smart.urls.token, grant_type="client_credentials"))


def refused(call: Any) -> str:
    with pytest.raises(OAuthError) as caught:
        call()
    return str(caught.value.error)


def test_rs384_with_registered_jwks(smart: SmartServer) -> None:
    token = fetch(
        smart, BACKEND_RS, smart.rs384_key, "RS384", scope="system/*.rs system/Patient.cud patient/*.rs"
    )
    assert token["token_type"] == "Bearer"
    assert 0 < token["expires_in"] <= 300
    assert "refresh_token" not in token
    assert token["scope"] == "system/*.rs"  # only system/ scopes the client is registered for
    with smart.client(token["access_token"]) as c:
        assert c.get(f"/Patient/{PATIENT_A}").status_code == 200
        assert (
            c.put(f"/Patient/{PATIENT_A}", json={"resourceType": "Patient", "id": PATIENT_A}).status_code
            == 403
        )


def test_es384_with_jwks_url_and_matching_jku(smart: SmartServer) -> None:
    token = fetch(smart, BACKEND_ES, smart.es384_key, "ES384", headers={"jku": smart.jwks_host.url})
    assert token["scope"] == "system/*.rs"
    assert smart.jwks_host.hits >= 1
    with smart.client(token["access_token"]) as c:
        assert c.get("/Organization/legacy-hos-001").status_code == 200


def test_backend_may_write_what_it_is_registered_for(smart: SmartServer) -> None:
    token = fetch(smart, BACKEND_RS, smart.rs384_key, "RS384", scope="system/ImagingStudy.cruds")
    study = {
        "resourceType": "ImagingStudy",
        "status": "available",
        "subject": {"reference": f"Patient/{PATIENT_A}"},
    }
    with smart.client(token["access_token"]) as c:
        created = c.post("/ImagingStudy", json=study, headers={"Content-Type": "application/fhir+json"})
        assert created.status_code == 201, created.text


@pytest.mark.parametrize(
    ("defect", "reason"),
    [
        ({"audience": "https://other-ehr.example/auth/token"}, "aud"),
        ({"claims": {"iss": "someone-else"}}, "Issuer and Subject"),
        ({"claims": {"sub": BACKEND_ES}}, ""),
        # Times are taken when the test runs, not when it is collected (the suite runs for minutes).
        (lambda: {"claims": {"exp": int(time.time()) + 600}}, "five minutes"),
        (lambda: {"claims": {"exp": int(time.time()) - 120}}, "expired"),
        ({"headers": {"kid": "unknown-kid"}}, "kid"),
        ({"headers": {"jku": "https://attacker.example/jwks.json"}}, "jku"),
        ({"headers": {"typ": "at+jwt"}}, "typ"),
    ],
    ids=[
        "wrong-aud",
        "iss-not-sub",
        "sub-of-other-client",
        "exp-over-5-min",
        "expired",
        "unknown-kid",
        "foreign-jku",
        "wrong-typ",
    ],
)
def test_defective_assertions_are_invalid_client(
    smart: SmartServer, defect: dict[str, Any] | Callable[[], dict[str, Any]], reason: str
) -> None:
    arguments = defect() if callable(defect) else defect
    with pytest.raises(OAuthError) as caught:
        fetch(smart, BACKEND_RS, smart.rs384_key, "RS384", **arguments)
    assert caught.value.error == "invalid_client"
    assert reason in str(caught.value.description)


def test_jku_on_a_client_registered_with_inline_keys_is_refused(smart: SmartServer) -> None:
    error = refused(
        lambda: fetch(smart, BACKEND_RS, smart.rs384_key, "RS384", headers={"jku": smart.jwks_host.url})
    )
    assert error == "invalid_client"


def test_replayed_jti_is_refused(smart: SmartServer) -> None:
    jti = str(uuid.uuid4())
    fetch(smart, BACKEND_RS, smart.rs384_key, "RS384", claims={"jti": jti})
    with pytest.raises(OAuthError) as caught:
        fetch(smart, BACKEND_RS, smart.rs384_key, "RS384", claims={"jti": jti})
    assert caught.value.error == "invalid_client" and "JWT ID" in str(caught.value.description)


def test_wrong_key_with_the_right_kid_is_refused(smart: SmartServer) -> None:
    impostor = RSAKey.generate_key(2048, parameters={"kid": smart.rs384_key.kid})
    assert refused(lambda: fetch(smart, BACKEND_RS, impostor, "RS384")) == "invalid_client"


def test_algorithms_other_than_rs384_es384_are_refused(smart: SmartServer) -> None:
    same_key_any_alg = RSAKey.import_key(
        {k: v for k, v in smart.rs384_key.as_dict(private=True).items() if k != "alg"}
    )
    assert refused(lambda: fetch(smart, BACKEND_RS, same_key_any_alg, "RS256")) == "invalid_client"
    assert refused(lambda: fetch(smart, BACKEND_RS, same_key_any_alg, "PS384")) == "invalid_client"


def _raw_assertion_request(smart: SmartServer, assertion: str) -> httpx.Response:
    return HTTP.post(
        smart.urls.token,
        data={
            "grant_type": "client_credentials",
            "scope": "system/*.rs",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        },
    )


def _claims(smart: SmartServer) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": BACKEND_RS,
        "sub": BACKEND_RS,
        "aud": smart.urls.token,
        "exp": now + 200,
        "jti": str(uuid.uuid4()),
    }


def test_alg_none_is_refused(smart: SmartServer) -> None:
    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    assertion = f"{b64({'alg': 'none', 'kid': smart.rs384_key.kid, 'typ': 'JWT'})}.{b64(_claims(smart))}."
    response = _raw_assertion_request(smart, assertion)
    assert response.json()["error"] == "invalid_client"


def test_hmac_signed_assertion_is_refused(smart: SmartServer) -> None:
    secret = OctKey.import_key(b"k" * 48)
    assertion = jwt.encode(
        {"alg": "HS256", "kid": smart.rs384_key.kid}, _claims(smart), secret, algorithms=["HS256"]
    )
    assert _raw_assertion_request(smart, assertion).json()["error"] == "invalid_client"


def test_public_client_cannot_use_client_credentials(smart: SmartServer) -> None:
    response = HTTP.post(
        smart.urls.token,
        data={"grant_type": "client_credentials", "client_id": PUBLIC_APP, "scope": "system/*.rs"},
    )
    assert response.json()["error"] == "invalid_client"


def test_backend_token_can_be_introspected_by_its_client(smart: SmartServer) -> None:
    token = fetch(smart, BACKEND_RS, smart.rs384_key, "RS384")
    auth = PrivateKeyJWT(
        smart.urls.token, claims={"exp": int(time.time()) + 120}, headers={"kid": "rs-1"}, alg="RS384"
    )
    with OAuth2Client(BACKEND_RS, smart.rs384_key, token_endpoint_auth_method=auth, verify=TLS) as client:
        info = client.introspect_token(smart.urls.introspect, token=token["access_token"]).json()
    assert info["active"] is True and info["client_id"] == BACKEND_RS and info["scope"] == "system/*.rs"
