"""The $shl operation family (README: "SMART Health Links"):

- `POST [base]/Patient/{id}/$shl`, `POST [base]/ImagingStudy/{id}/$shl` — create (201 Parameters: link,
  viewerUrl, qr, id).
- `GET [base]/Patient/{id}/$shl` — the patient's links (Parameters, one `shl` part per link).
- `GET [base]/Patient/{id}/$shl-log?id=` — a link's access log (Bundle of AuditEvents, newest first).
- `POST [base]/Patient/{id}/$shl-revoke` (Parameters `id`, or `?id=`) — revoke a link and its image tokens.
- `GET [base]/Patient/{id}/$shl-qr?id=&format=png|svg&viewer=true|false` — the QR code of a link.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from fhir_server.api.responses import FhirJSONResponse
from fhir_server.errors import FhirError, Problem
from fhir_server.search.keys import value_key
from fhir_server.security.access.store import SecuredStore, secured, store_for
from fhir_server.security.oauth.revocation import Revocations
from fhir_server.shl import access_log
from fhir_server.shl.components import fhir_base_of, shl_of
from fhir_server.shl.creator import creator_of
from fhir_server.shl.options import LinkOptions, parse_options
from fhir_server.shl.qr import MEDIA_TYPES, Format, qr_image
from fhir_server.shl.responses import created, listing
from fhir_server.shl.store import Link
from fhir_server.shl.targets import readable_patient, readable_study
from fhir_server.validation import parameter_entries, parse_json

router = APIRouter(prefix="/fhir", tags=["SMART Health Links"])

# The operations are declared in fhir_server/rest/data/operations.json, with rows in the route table
# (fhir_server.rest.routes) that name this module as the one serving them.


def store_of(request: Request) -> SecuredStore:
    """The request's own store: every $shl operation reaches data only through it (401 without a token)."""
    return secured(request, "operation")


def create_link(
    request: Request,
    store: SecuredStore,
    patient: str,
    study: str | None,
    options: LinkOptions,
    purpose: str,
) -> Link:
    """A link acting with this request's access; `patient` (and `study`) already checked readable."""
    shl = shl_of(request)
    return shl.create(
        store,
        creator_of(request),
        fhir_base_of(request, shl.settings),
        patient,
        study,
        options,
        purpose=purpose,
    )


def _created(request: Request, link: Link) -> Response:
    shl = shl_of(request)
    return FhirJSONResponse(created(shl, fhir_base_of(request, shl.settings), link), 201)


@router.post("/Patient/{patient_id}/$shl")
async def create_patient_link(patient_id: str, request: Request) -> Response:
    options = parse_options(await request.body())

    def work() -> Response:
        store = store_of(request)
        patient = readable_patient(store, patient_id)
        return _created(request, create_link(request, store, patient, None, options, "operation"))

    return await run_in_threadpool(work)


@router.post("/ImagingStudy/{study_id}/$shl")
async def create_study_link(study_id: str, request: Request) -> Response:
    options = parse_options(await request.body())

    def work() -> Response:
        store = store_of(request)
        patient = readable_study(store, study_id)
        return _created(request, create_link(request, store, patient, study_id, options, "operation"))

    return await run_in_threadpool(work)


@router.get("/Patient/{patient_id}/$shl")
def list_links(patient_id: str, request: Request) -> Response:
    shl = shl_of(request)
    store = store_of(request)
    patient = readable_patient(store, patient_id)
    covered = _coverage(request, store)
    links = [link for link in shl.store.for_patient(patient) if covered(link)]
    return FhirJSONResponse(listing(fhir_base_of(request, shl.settings), links, shl.status))


def owned_link(request: Request, patient_id: str, link_id: str | None) -> Link:
    if not link_id:
        raise FhirError(Problem.REQUIRED, "id: the management id of the link is required", ["id"])
    store = store_of(request)
    patient = readable_patient(store, patient_id)
    link = shl_of(request).store.get(link_id)
    if link is None or link.patient != patient or not _coverage(request, store)(link):
        raise FhirError(Problem.NOT_FOUND, f"Patient/{patient_id} has no SMART Health Link {link_id}")
    return link


def _coverage(request: Request, store: SecuredStore) -> Callable[[Link], bool]:
    """May this caller see and manage a link? Only when it may read everything the link shares: a link
    would otherwise hand its QR code (and so its content) to someone whose own access is narrower. A link
    the caller does not cover answers exactly like one that does not exist. The studies the caller and
    each creator see are looked up once per patient and creator, however many links share them."""
    shl = shl_of(request)
    studies: dict[tuple[str | None, str], set[str]] = {}

    def seen(key: str | None, by: Callable[[], SecuredStore], patient: str) -> set[str]:
        if (key, patient) not in studies:
            studies[(key, patient)] = _patient_studies(by(), patient)
        return studies[(key, patient)]

    def covered(link: Link) -> bool:
        if link.study:
            return store.read("ImagingStudy", link.study) is not None
        creator = shl.creator(link)
        if creator is None:
            return True  # suspended: it shares nothing any more
        theirs = seen(
            creator.key, lambda: store_for(request.app.state, creator.access, "search"), link.patient
        )
        return theirs <= seen(None, lambda: store, link.patient)

    return covered


def _patient_studies(store: SecuredStore, patient_id: str) -> set[str]:
    key = value_key("patient", f"Patient/{patient_id}")
    return {c.id for c in store.engine.by_keys("ImagingStudy", [key])}


@router.get("/Patient/{patient_id}/$shl-log")
def link_log(patient_id: str, request: Request, id: str | None = None) -> Response:
    link = owned_link(request, patient_id, id)
    ctx_base = fhir_base_of(request, shl_of(request).settings)
    events = access_log.events(access_log.audit_of(request), link.id)
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(events),
        "entry": [
            {"fullUrl": f"{ctx_base}/AuditEvent/{e['id']}", "resource": e, "search": {"mode": "match"}}
            for e in events
        ],
    }
    return FhirJSONResponse(bundle)


@router.post("/Patient/{patient_id}/$shl-revoke")
async def revoke_link(patient_id: str, request: Request) -> Response:
    link_id = request.query_params.get("id") or _id_parameter(await request.body())

    def work() -> Response:
        link = owned_link(request, patient_id, link_id)
        shl = shl_of(request)
        revoked = shl.store.revoke(link.id) or link
        revocations: Revocations = request.app.state.auth.revocations
        for token in revoked.doc.get("tokens", []):
            revocations.revoke(token["jti"], int(token["exp"]))
        return FhirJSONResponse(listing(fhir_base_of(request, shl.settings), [revoked], shl.status))

    return await run_in_threadpool(work)


def _id_parameter(body: bytes) -> str | None:
    if not body.strip():
        return None
    for _path, parameter in parameter_entries(parse_json(body), "$shl-revoke"):
        if parameter["name"] == "id":
            value = parameter.get("valueString") or parameter.get("valueId")
            return str(value) if value else None
    return None


def qr_response(request: Request, link: Link, image_format: str | None, viewer: str | None) -> Response:
    chosen = (image_format or "png").lower()
    if chosen not in MEDIA_TYPES:
        raise FhirError(Problem.INVALID, "format: png or svg", ["format"])
    if viewer not in (None, "true", "false"):
        raise FhirError(Problem.INVALID, "viewer: true or false", ["viewer"])
    shl = shl_of(request)
    text = shl.text(link) if viewer == "false" else shl.viewer_text(link)
    fmt: Format = "svg" if chosen == "svg" else "png"
    return Response(qr_image(text, fmt), media_type=MEDIA_TYPES[fmt], headers={"Cache-Control": "no-store"})


@router.get("/Patient/{patient_id}/$shl-qr")
def link_qr(
    patient_id: str,
    request: Request,
    id: str | None = None,
    format: str | None = None,
    viewer: str | None = None,
) -> Response:
    return qr_response(request, owned_link(request, patient_id, id), format, viewer)
