"""OpenID Provider Metadata (OpenID Connect Discovery 1.0) at `{issuer}/.well-known/openid-configuration`,
where a client that received one of our id_tokens looks for it (`sso-openid-connect` is advertised)."""

from __future__ import annotations

from joserfc import jwt
from joserfc.jwk import KeySet

from tests.fhir_server.security.smart.smart_browser import Browser
from tests.fhir_server.security.smart.smart_support import HTTP, PUBLIC_APP, SmartServer, code_flow_tokens


def test_openid_configuration_is_served_at_the_issuer(smart: SmartServer, browser: Browser) -> None:
    smart_config = HTTP.get(f"{smart.base_url}/.well-known/smart-configuration").json()
    issuer = smart_config["issuer"]
    response = HTTP.get(
        f"{issuer}/.well-known/openid-configuration", headers={"Origin": "https://app.example"}
    )
    assert response.status_code == 200  # public: no token needed
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["access-control-allow-origin"] == "*"
    config = response.json()
    # Discovery §4.3: the issuer is exactly the URL the document was fetched under, minus the well-known part.
    assert config["issuer"] == issuer == smart.urls.issuer
    for required in (
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "response_types_supported",
        "subject_types_supported",
        "id_token_signing_alg_values_supported",
    ):
        assert config[required], required
    for same in ("authorization_endpoint", "token_endpoint", "jwks_uri", "introspection_endpoint"):
        assert config[same] == smart_config[same]
    assert config["response_types_supported"] == ["code"]
    assert config["subject_types_supported"] == ["public"]
    assert "openid" in config["scopes_supported"] and "fhirUser" in config["claims_supported"]
    assert config["request_uri_parameter_supported"] is False  # its default (true) would be a false claim
    assert "none" not in config["introspection_endpoint_auth_methods_supported"]

    # An id_token of ours is what the document describes: its iss is the issuer, it verifies with jwks_uri
    # and is signed with an advertised algorithm.
    tokens = code_flow_tokens(smart.urls, browser, "openid fhirUser user/*.rs", "dr-who")
    keys = KeySet.import_key_set(HTTP.get(config["jwks_uri"]).json())
    id_token = jwt.decode(
        tokens["id_token"], keys, algorithms=config["id_token_signing_alg_values_supported"]
    )
    assert id_token.claims["iss"] == config["issuer"]
    assert id_token.claims["aud"] in (PUBLIC_APP, [PUBLIC_APP])
    assert set(id_token.claims) <= set(config["claims_supported"])
