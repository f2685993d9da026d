"""What the server tells clients about its security: `{base}/.well-known/smart-configuration`
(App Launch 2.2 §conformance / §metadata), the CapabilityStatement's `rest.security`
(§declaring-support-in-the-capabilitystatement: the SMART-on-FHIR service coding and the oauth-uris
extension), and, since `sso-openid-connect` is advertised, the OpenID Provider Metadata at
`{issuer}/.well-known/openid-configuration` (OpenID Connect Discovery 1.0 §4: the issuer plus that path,
which is where a client that got an id_token from us looks)."""

from __future__ import annotations

from typing import Any

from fhir_server.security.oauth.client_assertion import ALGORITHMS
from fhir_server.security.oauth.urls import Urls

OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
SECURITY_SERVICE = "http://terminology.hl7.org/CodeSystem/restful-security-service"
# A local code saying that the server also answers without a token (development mode only).
SECURITY_MODE_SYSTEM = "https://fhir.imaging-federation.example/CodeSystem/security-mode"

CAPABILITIES = [
    "launch-ehr",
    "launch-standalone",
    "authorize-post",
    "client-public",
    "client-confidential-symmetric",
    "client-confidential-asymmetric",
    "sso-openid-connect",
    "context-ehr-patient",
    "context-standalone-patient",
    "context-banner",
    "permission-offline",
    "permission-online",
    "permission-patient",
    "permission-user",
    "permission-v1",
    "permission-v2",
    # SMART Imaging Access (Argonaut 0.1.0, shared/specs/smart-imaging-access.md): capability identifiers.
    "smart-imaging-access",
    "http://fhir.org/argonaut/smart-imaging/capabilities/app-launch",
    "http://fhir.org/argonaut/smart-imaging/capabilities/backend-services",
]
SCOPES_SUPPORTED = [
    "openid",
    "fhirUser",
    "launch",
    "launch/patient",
    "offline_access",
    "online_access",
    "patient/*.cruds",
    "user/*.cruds",
    "system/*.cruds",
    "patient/*.read",
    "patient/*.write",
    "user/*.read",
    "user/*.write",
    "system/*.read",
    "system/*.write",
    # SMART Imaging Access: the scopes of imaging clients (the wildcards above cover them too).
    "patient/ImagingStudy.rs",
    "user/ImagingStudy.rs",
    "system/ImagingStudy.rs",
]
DEVELOPMENT_WARNING = (
    "DEVELOPMENT MODE (FHIR_AUTH_MODE=development): requests without an access token are answered with full "
    "access. Never expose this server to real data or networks in this mode."
)


# Introspection needs a confidential client (token_endpoints.py); revocation also takes a public one.
CONFIDENTIAL_AUTH_METHODS = ["private_key_jwt", "client_secret_basic", "client_secret_post"]
# What our id_tokens hold (authlib's OpenIDCode with SmartOpenID, grants.py).
ID_TOKEN_CLAIMS = ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "amr", "at_hash", "fhirUser"]


def _authorization_server(urls: Urls) -> dict[str, Any]:
    """The RFC 8414 fields that both documents share."""
    return {
        "issuer": urls.issuer,
        "jwks_uri": urls.jwks,
        "authorization_endpoint": urls.authorize,
        "token_endpoint": urls.token,
        "introspection_endpoint": urls.introspect,
        "revocation_endpoint": urls.revoke,
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": [*CONFIDENTIAL_AUTH_METHODS, "none"],
        "token_endpoint_auth_signing_alg_values_supported": list(ALGORITHMS),
        "introspection_endpoint_auth_methods_supported": CONFIDENTIAL_AUTH_METHODS,
        "introspection_endpoint_auth_signing_alg_values_supported": list(ALGORITHMS),
        "revocation_endpoint_auth_methods_supported": [*CONFIDENTIAL_AUTH_METHODS, "none"],
        "revocation_endpoint_auth_signing_alg_values_supported": list(ALGORITHMS),
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": SCOPES_SUPPORTED,
    }


def smart_configuration(urls: Urls) -> dict[str, Any]:
    return {**_authorization_server(urls), "capabilities": CAPABILITIES}


def openid_configuration(urls: Urls) -> dict[str, Any]:
    """OpenID Provider Metadata (OpenID Connect Discovery 1.0 §3). There is no userinfo endpoint (it is only
    RECOMMENDED): the id_token carries `sub` and `fhirUser`. request_uri_parameter_supported defaults to true
    and so has to be said false."""
    return {
        **_authorization_server(urls),
        "subject_types_supported": ["public"],
        "response_modes_supported": ["query"],
        "claims_supported": ID_TOKEN_CLAIMS,
        "claim_types_supported": ["normal"],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
    }


def capability_security(urls: Urls, development: bool) -> dict[str, Any]:
    codings = [{"system": SECURITY_SERVICE, "code": "SMART-on-FHIR", "display": "SMART-on-FHIR"}]
    description = "OAuth 2.0 with SMART App Launch 2.2 (v1 and v2 scopes) and SMART Backend Services."
    if development:
        codings.append(
            {"system": SECURITY_MODE_SYSTEM, "code": "development", "display": "Anonymous access allowed"}
        )
        description = DEVELOPMENT_WARNING + " " + description
    return {
        "cors": True,
        "service": [{"coding": codings, "text": "OAuth2 using SMART-on-FHIR profile"}],
        "description": description,
        "extension": [
            {
                "url": OAUTH_URIS,
                "extension": [
                    {"url": "authorize", "valueUri": urls.authorize},
                    {"url": "token", "valueUri": urls.token},
                    {"url": "introspect", "valueUri": urls.introspect},
                    {"url": "revoke", "valueUri": urls.revoke},
                ],
            }
        ],
    }
