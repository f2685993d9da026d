"""Discovery (App Launch 2.2 §conformance): `.well-known/smart-configuration` and CapabilityStatement
`rest.security`, both public; and the development mode announcing itself."""

from __future__ import annotations

import httpx
from fhir.resources.R4B.capabilitystatement import CapabilityStatement

from fhir_server.security.oauth.discovery import OAUTH_URIS
from tests.fhir_server.security.smart.smart_support import HTTP, SmartServer
from tests.server_process import RunningServer


def test_smart_configuration_has_every_required_field(smart: SmartServer) -> None:
    response = HTTP.get(
        f"{smart.base_url}/.well-known/smart-configuration", headers={"Origin": "https://app.example"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["access-control-allow-origin"] == "*"
    config = response.json()
    auth = smart.urls
    assert config["issuer"] == auth.issuer
    assert config["jwks_uri"] == auth.jwks
    assert config["authorization_endpoint"] == auth.authorize
    assert config["token_endpoint"] == auth.token
    assert config["introspection_endpoint"] == auth.introspect
    assert config["revocation_endpoint"] == auth.revoke
    assert config["code_challenge_methods_supported"] == ["S256"]
    assert set(config["grant_types_supported"]) >= {
        "authorization_code",
        "client_credentials",
        "refresh_token",
    }
    assert "private_key_jwt" in config["token_endpoint_auth_methods_supported"]
    assert set(config["token_endpoint_auth_signing_alg_values_supported"]) == {"RS384", "ES384"}
    assert config["response_types_supported"] == ["code"]
    for capability in (
        "launch-ehr",
        "launch-standalone",
        "authorize-post",
        "client-public",
        "client-confidential-symmetric",
        "client-confidential-asymmetric",
        "sso-openid-connect",
        "context-ehr-patient",
        "context-standalone-patient",
        "permission-offline",
        "permission-online",
        "permission-patient",
        "permission-user",
        "permission-v1",
        "permission-v2",
    ):
        assert capability in config["capabilities"]
    for url in (config["token_endpoint"], config["authorization_endpoint"], config["jwks_uri"]):
        assert url.startswith("http://127.0.0.1:")
    jwks = HTTP.get(config["jwks_uri"]).json()
    assert jwks["keys"] and all("d" not in k and k["kid"] for k in jwks["keys"])


def test_capability_statement_is_public_and_names_the_smart_service(smart: SmartServer) -> None:
    response = HTTP.get(f"{smart.base_url}/metadata")
    assert response.status_code == 200
    CapabilityStatement.model_validate(response.json())
    security = response.json()["rest"][0]["security"]
    codings = security["service"][0]["coding"]
    assert {
        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
        "code": "SMART-on-FHIR",
    }.items() <= codings[0].items()
    assert len(codings) == 1  # no development-mode marker
    uris = next(e for e in security["extension"] if e["url"] == OAUTH_URIS)
    by_name = {e["url"]: e["valueUri"] for e in uris["extension"]}
    assert by_name["authorize"] == smart.urls.authorize
    assert by_name["token"] == smart.urls.token
    assert "DEVELOPMENT" not in security["description"]


def test_development_mode_says_so_in_capability_statement_and_banner(
    server: RunningServer, client: httpx.Client
) -> None:
    security = client.get("/metadata").json()["rest"][0]["security"]
    assert "DEVELOPMENT MODE" in security["description"]
    assert any(c["code"] == "development" for c in security["service"][0]["coding"])
    assert "DEVELOPMENT MODE" in server.log_path.read_text()
    assert client.get("/Patient/does-not-exist").status_code == 404  # anonymous access allowed


def test_security_is_on_by_default(monkeypatch: object) -> None:
    from fhir_server.settings import Settings

    monkeypatch.delenv("FHIR_AUTH_MODE", raising=False)  # type: ignore[attr-defined]
    assert Settings(_env_file=None).auth_mode == "smart"  # type: ignore[call-arg]
