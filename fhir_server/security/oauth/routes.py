"""OAuth endpoints of the SMART authorization server and the discovery documents.

GET  {fhir}/.well-known/smart-configuration   App Launch 2.2 §conformance (public, CORS open)
GET  /auth/.well-known/openid-configuration    OpenID Connect Discovery 1.0 (the issuer is /auth)
GET  /auth/jwks                                the public keys of our tokens
GET|POST /auth/authorize                       §obtain-authorization-code (starts login → picker → consent)
POST /auth/token                               §obtain-access-token, §refresh-access-token, Backend Services
POST /auth/introspect, /auth/revoke            RFC 7662, RFC 7009
"""

from __future__ import annotations

import secrets

from authlib.oauth2 import OAuth2Error
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from fhir_server.security.components import AuthComponents
from fhir_server.security.enforcement.scopes import LAUNCH, split
from fhir_server.security.login.pages import error_page, page, stylesheet
from fhir_server.security.oauth.authorization_server import SmartAuthorizationServer
from fhir_server.security.oauth.discovery import openid_configuration, smart_configuration
from fhir_server.security.oauth.oauth_request import PlainOAuth2Request, oauth_request, read_form
from fhir_server.security.oauth.pending import PENDING_LIFETIME_SECONDS
from fhir_server.security.oauth.urls import Urls

router = APIRouter()
BROWSER_COOKIE = "smart_authz"
_OPEN_CORS = {"Access-Control-Allow-Origin": "*"}


def components(request: Request) -> AuthComponents:
    auth: AuthComponents = request.app.state.auth
    return auth


def urls_of(request: Request) -> Urls:
    return Urls.for_request(request, components(request).settings)


def server_for(request: Request, endpoint_url: str) -> SmartAuthorizationServer:
    address = request.client.host if request.client else None
    return SmartAuthorizationServer(components(request), urls_of(request), endpoint_url, address)


@router.get("/fhir/.well-known/smart-configuration")
def smart_configuration_document(request: Request) -> Response:
    return JSONResponse(smart_configuration(urls_of(request)), headers=_OPEN_CORS)


@router.get("/auth/.well-known/openid-configuration")
def openid_configuration_document(request: Request) -> Response:
    # At the issuer's own path (issuer + "/.well-known/openid-configuration", Discovery §4.1), where a client
    # resolves the `iss` of our id_tokens; not under /fhir, whose document would not match its issuer.
    return JSONResponse(openid_configuration(urls_of(request)), headers=_OPEN_CORS)


@router.get("/auth/jwks")
def jwks(request: Request) -> Response:
    return JSONResponse(
        components(request).keys.public_jwks(), headers={**_OPEN_CORS, "Cache-Control": "max-age=60"}
    )


@router.get("/auth/static/auth.css")
def css() -> Response:
    return stylesheet()


@router.api_route("/auth/authorize", methods=["GET", "POST"])
async def authorize(request: Request) -> Response:
    form = await read_form(request)
    urls = urls_of(request)
    server = server_for(request, urls.authorize)
    try:
        oauth = oauth_request(request, urls, form)
    except OAuth2Error as error:
        return error_page("This sign-in link cannot be used", error.description or error.error)
    return await run_in_threadpool(_start_authorization, request, server, oauth)


def _start_authorization(
    request: Request, server: SmartAuthorizationServer, oauth: PlainOAuth2Request
) -> Response:
    try:
        grant = server.get_consent_grant(oauth)
    except OAuth2Error as error:
        return authorization_error(server, oauth, error)
    client = grant.request.client
    context = oauth.launch_context
    scope = grant.request.scope or ""
    if context is None and LAUNCH in split(scope):
        scope = " ".join(s for s in split(scope) if s != LAUNCH)  # nothing to bind without an EHR launch
    browser = request.cookies.get(BROWSER_COOKIE) or secrets.token_urlsafe(24)
    pending = components(request).pending.create(
        browser,
        oauth.payload.pairs,
        client.get_client_id(),
        client.name,
        scope,
        context.patient if context else None,
        ehr_launch=context is not None,
    )
    response = page("login.html", tx=pending.tx, client_name=client.name, title="Sign in")
    set_browser_cookie(response, browser, server.urls)
    return response


def authorization_error(
    server: SmartAuthorizationServer, oauth: PlainOAuth2Request, error: OAuth2Error
) -> Response:
    """With a validated redirect URI the error goes back to the app (RFC 6749 §4.1.2.1); without one —
    unknown client, redirect URI not registered — it must not be redirected anywhere."""
    if error.redirect_uri:
        error.state = oauth.payload.state
        return server.handle_error_response(oauth, error)
    return error_page("This sign-in link cannot be used", error.description or error.error)


def set_browser_cookie(response: Response, value: str, urls: Urls) -> None:
    response.set_cookie(
        BROWSER_COOKIE,
        value,
        max_age=PENDING_LIFETIME_SECONDS,
        path="/auth",
        httponly=True,
        samesite="lax",
        secure=urls.auth_base.startswith("https://"),
    )


@router.post("/auth/token")
async def token(request: Request) -> Response:
    return await _endpoint(request, "token")


@router.post("/auth/introspect")
async def introspect(request: Request) -> Response:
    return await _endpoint(request, "introspection")


@router.post("/auth/revoke")
async def revoke(request: Request) -> Response:
    return await _endpoint(request, "revocation")


async def _endpoint(request: Request, name: str) -> Response:
    form = await read_form(request)
    urls = urls_of(request)
    endpoint_url = {"token": urls.token, "introspection": urls.introspect, "revocation": urls.revoke}[name]
    server = server_for(request, endpoint_url)
    try:
        oauth = oauth_request(request, urls, form)
    except OAuth2Error as error:
        return server.handle_error_response(None, error)

    def run() -> Response:
        # authlib is untyped; its responses are what SmartAuthorizationServer.handle_response builds.
        response: Response
        if name == "token":
            response = server.create_token_response(oauth)
        else:
            response = server.create_endpoint_response(name, oauth)
        return response

    response = await run_in_threadpool(run)
    response.headers.update(_OPEN_CORS)
    return response
