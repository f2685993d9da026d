"""Administration API (JSON) for the EHR side: clients, users, EHR launch contexts, key rotation.

Every call needs an access token with the `admin` scope (an admin user's login, or `fhir-server token
--scope admin`), also in development mode. Errors are OperationOutcomes like everywhere else.

POST   /auth/admin/clients            {client_name, kind, scope, redirect_uris?, jwks? | jwks_uri?,
                                       client_id?, client_secret?, introspect?} → 201 (secret shown once)
GET    /auth/admin/clients            DELETE /auth/admin/clients/{client_id}
PATCH  /auth/admin/clients/{client_id}  {disabled: true|false} → 200 (the client's view)
POST   /auth/admin/users              {username, password, role, fhirUser?, name?} → 201
GET    /auth/admin/users              DELETE /auth/admin/users/{username}
PATCH  /auth/admin/users/{username}   {disabled: true|false} → 200 (the user's view)
POST   /auth/admin/launch             {patient?, client_id?} → 201 {launch, iss, expires_in}
POST   /auth/admin/keys/rotate        → 200 {kid}

Deleting or disabling a user or client revokes all its access and refresh tokens at once, in every worker
(the next request with one of them is 401; see revocation.py).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse, Response

from fhir_server.errors import FhirError, Problem
from fhir_server.security.accounts.clients import ClientRegistrationError, new_client
from fhir_server.security.accounts.users import UserError
from fhir_server.security.enforcement.checks import access_of, forbidden
from fhir_server.security.enforcement.policy import AccessContext
from fhir_server.security.oauth.launch import LAUNCH_LIFETIME_SECONDS
from fhir_server.security.oauth.routes import components, urls_of

router = APIRouter(prefix="/auth/admin")


def admin_access(request: Request) -> AccessContext:
    # The bearer middleware verified the token (the one check) and already refuses a token without the admin
    # scope on /auth/admin; asking again here keeps the routes safe should a rule ever change.
    access = access_of(request)
    if not access.is_admin:
        raise forbidden("The administration API needs the admin scope")
    return access


AdminDep = Annotated[AccessContext, Depends(admin_access)]


class ClientSpec(BaseModel):
    client_name: str = Field(min_length=1, max_length=200)
    kind: str
    scope: str
    redirect_uris: list[str] = []
    client_id: str | None = None
    client_secret: str | None = None
    jwks: dict[str, Any] | None = None
    jwks_uri: str | None = None
    introspect: bool = False


class UserSpec(BaseModel):
    username: str
    password: str
    role: str
    fhirUser: str | None = None
    name: str | None = None


class Status(BaseModel):
    disabled: bool


class LaunchSpec(BaseModel):
    patient: str | None = None
    client_id: str | None = None


def _invalid(exc: Exception) -> FhirError:
    return FhirError(Problem.INVALID, str(exc))


@router.get("/clients")
def list_clients(request: Request, _: AdminDep) -> Response:
    return JSONResponse([c.public_view() for c in components(request).clients.list()])


@router.post("/clients")
def add_client(request: Request, spec: ClientSpec, _: AdminDep) -> Response:
    try:
        client, secret = new_client(
            client_id=spec.client_id,
            name=spec.client_name,
            kind=spec.kind,
            scope=spec.scope,
            redirect_uris=spec.redirect_uris,
            secret=spec.client_secret,
            jwks=spec.jwks,
            jwks_url=spec.jwks_uri,
            introspect=spec.introspect,
        )
        components(request).clients.add(client)
    except ClientRegistrationError as exc:
        raise _invalid(exc) from None
    body = client.public_view()
    if secret:
        body["client_secret"] = secret
    return JSONResponse(body, status_code=201, headers={"Cache-Control": "no-store"})


@router.delete("/clients/{client_id}")
def remove_client(request: Request, client_id: str, _: AdminDep) -> Response:
    if not components(request).clients.remove(client_id):
        raise FhirError(Problem.NOT_FOUND, f"No client {client_id!r}")
    return Response(status_code=204)


@router.patch("/clients/{client_id}")
def set_client_status(request: Request, client_id: str, status: Status, _: AdminDep) -> Response:
    client = components(request).clients.set_disabled(client_id, status.disabled)
    if client is None:
        raise FhirError(Problem.NOT_FOUND, f"No client {client_id!r}")
    return JSONResponse(client.public_view())


@router.get("/users")
def list_users(request: Request, _: AdminDep) -> Response:
    return JSONResponse([u.public_view() for u in components(request).users.list()])


@router.post("/users")
def add_user(request: Request, spec: UserSpec, _: AdminDep) -> Response:
    try:
        user = components(request).users.add(
            spec.username, spec.password, spec.role, spec.fhirUser, spec.name
        )
    except UserError as exc:
        raise _invalid(exc) from None
    return JSONResponse(user.public_view(), status_code=201)


@router.delete("/users/{username}")
def remove_user(request: Request, username: str, _: AdminDep) -> Response:
    if not components(request).users.remove(username):
        raise FhirError(Problem.NOT_FOUND, f"No user {username!r}")
    return Response(status_code=204)


@router.patch("/users/{username}")
def set_user_status(request: Request, username: str, status: Status, _: AdminDep) -> Response:
    user = components(request).users.set_disabled(username, status.disabled)
    if user is None:
        raise FhirError(Problem.NOT_FOUND, f"No user {username!r}")
    return JSONResponse(user.public_view())


@router.post("/launch")
def create_launch(request: Request, spec: LaunchSpec, _: AdminDep) -> Response:
    auth = components(request)
    if spec.client_id is not None and auth.clients.get(spec.client_id) is None:
        raise FhirError(Problem.INVALID, f"No client {spec.client_id!r}")
    if spec.patient is not None:
        current = auth.repository.read("Patient", spec.patient) if auth.repository else None
        if current is None or current.deleted:
            raise FhirError(Problem.INVALID, f"No Patient {spec.patient!r}")
    context = auth.launches.create(spec.patient, spec.client_id)
    body = {
        "launch": context.launch,
        "iss": urls_of(request).fhir_base,
        "expires_in": LAUNCH_LIFETIME_SECONDS,
    }
    return JSONResponse(body, status_code=201, headers={"Cache-Control": "no-store"})


@router.post("/keys/rotate")
def rotate_keys(request: Request, _: AdminDep) -> Response:
    return JSONResponse({"kid": components(request).keys.rotate()})
