"""Admin API for hospitals: `POST /admin/hospitals` (create or update, same as `fhir-server hospital add`)
and `GET /admin/hospitals`. Answers never contain a password.

Like the rest of the administration API (fhir_server.auth.routes_admin) every call needs an access token with
the `admin` scope, also in development mode: these calls decide where the server sends credentials.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from fhir_server.api.services import ServicesDep
from fhir_server.auth.routes_admin import AdminDep
from fhir_server.dicomweb.hospitals import HospitalRequest, register_hospital
from fhir_server.dicomweb.runtime import RuntimeDep
from fhir_server.errors import FhirError, Problem
from fhir_server.validation import parse_json

router = APIRouter(prefix="/admin", tags=["admin"])


class HospitalBody(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1)
    identifier: str = Field(min_length=1)
    orthanc_url: str = Field(alias="orthancUrl", min_length=1)
    orthanc_user: str | None = Field(None, alias="orthancUser")
    orthanc_password: str | None = Field(None, alias="orthancPassword")
    patient_id_system: str | None = Field(None, alias="patientIdSystem")
    national_id_issuers: list[str] = Field(default_factory=list, alias="nationalIdIssuers")


@router.post("/hospitals")
async def add_hospital(
    request: Request, _admin: AdminDep, services: ServicesDep, runtime: RuntimeDep
) -> JSONResponse:
    body = _parse(await request.body())
    hospital = HospitalRequest(
        name=body.name,
        identifier=body.identifier,
        orthanc_url=body.orthanc_url,
        orthanc_user=body.orthanc_user,
        orthanc_password=body.orthanc_password,
        patient_id_system=body.patient_id_system,
        national_id_issuers=tuple(body.national_id_issuers),
    )
    registration = await run_in_threadpool(
        register_hospital,
        services.repository,
        runtime.connections,
        runtime.sync.find_ids,
        services.settings,
        hospital,
    )
    status = 201 if registration.organization == "created" else 200
    return JSONResponse(registration.to_json(), status_code=status)


@router.get("/hospitals")
async def list_hospitals(_admin: AdminDep, runtime: RuntimeDep) -> JSONResponse:
    hospitals = await run_in_threadpool(lambda: [h.public_json() for h in runtime.connections.all()])
    return JSONResponse({"hospitals": hospitals})


def _parse(raw: bytes) -> HospitalBody:
    data = parse_json(raw)
    try:
        return HospitalBody.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise FhirError(Problem.INVALID, f"Invalid hospital {where}: {first['msg']}", [where]) from None
