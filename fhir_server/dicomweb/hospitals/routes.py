"""Admin API for hospitals. Answers never contain a password.

POST  /admin/hospitals                 create (as `fhir-server hospital add`): 201; 409 if the identifier is
                                       registered already (nothing changed)
PATCH /admin/hospitals/{id}            change the fields given (as `fhir-server hospital update`): 200;
                                       an absent or empty orthancPassword keeps the stored one
GET   /admin/hospitals                 every registered hospital (public view)
POST  /admin/hospitals/{id}/sync       "Sync now": one sync pass of that hospital, answered with its summary

`{id}` is the Organization id or the hospital identifier. Create and update first try the Orthanc URL and
credentials; a failure is a 422 OperationOutcome whose expression names the field (`orthancUrl`,
`orthancUser`, `orthancPassword`) and nothing is saved, unless the body says `"allowOffline": true`.
Every change writes an AuditEvent (before/after, never a credential).

Like the rest of the administration API (fhir_server.security.admin.routes) every call needs an access token
with the `admin` scope, also in development mode: these calls decide where the server sends credentials.
"""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from fhir_server.api.dependencies import ServicesDep
from fhir_server.audit.log import AuditLog, AuditRecord, Who
from fhir_server.dicomweb.hospitals.registration import (
    HospitalChanges,
    HospitalRequest,
    Registration,
    create_hospital,
    update_hospital,
)
from fhir_server.dicomweb.orthanc.connections import HospitalConnection
from fhir_server.dicomweb.runtime import DicomwebRuntime, RuntimeDep
from fhir_server.errors import FhirError, Problem
from fhir_server.security.admin.routes import AdminDep
from fhir_server.security.enforcement.policy import AccessContext
from fhir_server.validation import parse_json

router = APIRouter(prefix="/admin", tags=["admin"])
_Body = TypeVar("_Body", bound=BaseModel)


class HospitalBody(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1)
    identifier: str = Field(min_length=1)
    orthanc_url: str = Field(alias="orthancUrl", min_length=1)
    orthanc_user: str | None = Field(None, alias="orthancUser")
    orthanc_password: str | None = Field(None, alias="orthancPassword")
    patient_id_system: str | None = Field(None, alias="patientIdSystem")
    national_id_issuers: list[str] = Field(default_factory=list, alias="nationalIdIssuers")
    national_id_source: str = Field("issuer", alias="nationalIdSource")
    allow_offline: bool = Field(False, alias="allowOffline")


class HospitalPatch(BaseModel):
    """Every field optional: what is absent (or null) is kept."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str | None = None
    orthanc_url: str | None = Field(None, alias="orthancUrl")
    orthanc_user: str | None = Field(None, alias="orthancUser")
    orthanc_password: str | None = Field(None, alias="orthancPassword")
    patient_id_system: str | None = Field(None, alias="patientIdSystem")
    national_id_issuers: list[str] | None = Field(None, alias="nationalIdIssuers")
    national_id_source: str | None = Field(None, alias="nationalIdSource")
    allow_offline: bool = Field(False, alias="allowOffline")


@router.post("/hospitals")
async def add_hospital(
    request: Request, admin: AdminDep, services: ServicesDep, runtime: RuntimeDep
) -> JSONResponse:
    body = _parse(HospitalBody, await request.body())
    hospital = HospitalRequest(**_fields(body))
    registration = await run_in_threadpool(
        create_hospital,
        services.repository,
        runtime.connections,
        runtime.sync.find_ids,
        services.settings,
        hospital,
    )
    _audit(request, admin, registration)
    return JSONResponse(registration.to_json(), status_code=201)


@router.patch("/hospitals/{hospital}")
async def change_hospital(
    hospital: str, request: Request, admin: AdminDep, services: ServicesDep, runtime: RuntimeDep
) -> JSONResponse:
    body = _parse(HospitalPatch, await request.body())
    changes = HospitalChanges(**_fields(body))
    registration = await run_in_threadpool(
        update_hospital, services.repository, runtime.connections, services.settings, hospital, changes
    )
    _audit(request, admin, registration)
    return JSONResponse(registration.to_json())


@router.get("/hospitals")
async def list_hospitals(_admin: AdminDep, runtime: RuntimeDep) -> JSONResponse:
    hospitals = await run_in_threadpool(lambda: [h.public_json() for h in runtime.connections.all()])
    return JSONResponse({"hospitals": hospitals})


@router.post("/hospitals/{hospital}/sync")
async def sync_now(hospital: str, request: Request, admin: AdminDep, runtime: RuntimeDep) -> JSONResponse:
    connection = await run_in_threadpool(_registered, runtime, hospital)
    result = await run_in_threadpool(runtime.sync_now, connection)
    audit_log(request).record(
        AuditRecord(
            category="rest",
            subtype="operation",
            action="E",
            outcome="0" if result.completed else "4",
            who=who(request, admin),
            entities=(connection.organization_reference,),
            description=f"hospital sync now: {result.summary_line()}",
        )
    )
    state = await run_in_threadpool(runtime.sync.state.get, connection.organization_id)
    return JSONResponse({**result.to_json(), **state.to_json()})


def _registered(runtime: DicomwebRuntime, hospital: str) -> HospitalConnection:
    found: HospitalConnection | None = runtime.connections.find(hospital)
    if found is None:
        raise FhirError(Problem.NOT_FOUND, f"No registered hospital {hospital[:100]!r}")
    return found


def audit_log(request: Request) -> AuditLog:
    log: AuditLog = request.app.state.auth.audit
    return log


def who(request: Request, access: AccessContext) -> Who:
    return Who(
        access.subject,
        client_id=access.client_id,
        role=access.role,
        fhir_user=access.fhir_user,
        address=request.client.host if request.client else None,
    )


def _audit(request: Request, access: AccessContext, registration: Registration) -> None:
    audit_log(request).record(registration.audit_record(who(request, access)))


def _fields(body: HospitalBody | HospitalPatch) -> dict[str, Any]:
    """The body as the keyword arguments of HospitalRequest / HospitalChanges (same field names)."""
    fields = body.model_dump()
    issuers = fields["national_id_issuers"]
    fields["national_id_issuers"] = None if issuers is None else tuple(issuers)
    return fields


def _parse(model: type[_Body], raw: bytes) -> _Body:
    data = parse_json(raw)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise FhirError(Problem.INVALID, f"Invalid hospital {where}: {first['msg']}", [where]) from None
