"""The manifest service (SHL IG STU1 §"Manifest request" and §"U flag"), public — the link is the secret:

- `POST /shl/m/{manifest id}` `{"recipient", "passcode"?, "embeddedLengthMax"?}` -> 200 manifest;
  401 `{"remainingAttempts": n}` for a wrong or missing passcode (lifetime budget, atomic decrement);
  404 for an unknown, expired, revoked or used-up link.
- `GET /shl/m/{manifest id}?recipient=…` (U flag) -> the single JWE, `application/jose`.
- `GET /shl/f/{location}` -> one file's JWE; locations live at most FHIR_SHL_LOCATION_SECONDS (<= 1 hour).
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from fhir_server.auth.passwords import verify_secret
from fhir_server.errors import FhirError, Problem
from fhir_server.shl.access_log import record_access
from fhir_server.shl.components import FILE_PATH, ShlComponents, engine_of, fhir_base_of, keys_of, shl_of
from fhir_server.shl.content import FHIR_JSON
from fhir_server.shl.store import Link, aware, now

router = APIRouter(prefix="/shl", tags=["SMART Health Links"])
JOSE = "application/jose"
_NO_STORE = {"Cache-Control": "no-store"}


def _inactive() -> FhirError:
    return FhirError(Problem.NOT_FOUND, "This SMART Health Link does not exist or is no longer active")


def _request_body(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise FhirError(Problem.STRUCTURE, "The manifest request body must be JSON") from None
    if not isinstance(body, dict):
        raise FhirError(Problem.STRUCTURE, "The manifest request body must be a JSON object")
    if not isinstance(body.get("recipient"), str) or not body["recipient"].strip():
        raise FhirError(Problem.REQUIRED, "recipient: required (a string naming who asks)", ["recipient"])
    limit = body.get("embeddedLengthMax")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
        raise FhirError(Problem.INVALID, "embeddedLengthMax: a non-negative integer", ["embeddedLengthMax"])
    passcode = body.get("passcode")
    if passcode is not None and not isinstance(passcode, str):
        raise FhirError(Problem.INVALID, "passcode: a string", ["passcode"])
    return body


@router.post("/m/{manifest_id}")
async def manifest(manifest_id: str, request: Request) -> Response:
    body = _request_body(await request.body())
    return await run_in_threadpool(_manifest, request, manifest_id, body)


def _manifest(request: Request, manifest_id: str, body: dict[str, Any]) -> Response:
    shl = shl_of(request)
    link = shl.store.by_manifest(manifest_id)
    if link is None or not link.active or "U" in link.flags:
        raise _inactive()
    recipient: str = body["recipient"]
    if "P" in link.flags and not _passcode_ok(shl, link, body.get("passcode")):
        remaining = shl.store.spend_attempt(link.id)
        record_access(request, link, recipient, "4", "wrong passcode")
        if remaining is None:
            raise _inactive()
        return JSONResponse({"remainingAttempts": remaining}, 401, headers=_NO_STORE)
    limit = body.get("embeddedLengthMax")
    fhir_base = fhir_base_of(request, shl.settings)
    files = []
    for content_type in shl.content_types(link):
        snapshot = content_type == FHIR_JSON and "L" not in link.flags
        entry: dict[str, Any] = {"contentType": content_type, "lastUpdated": _instant(link, snapshot)}
        jwe = None
        if limit is not None:
            jwe = shl.encrypted(link, content_type, engine_of(request), keys_of(request), fhir_base)
        if jwe is not None and len(jwe) <= limit:
            entry["embedded"] = jwe
        else:
            token = shl.store.add_location(link.id, content_type, shl.settings.shl_location_seconds)
            entry["location"] = shl.origin(fhir_base) + FILE_PATH + token
        files.append(entry)
    record_access(request, link, recipient, "0", "manifest")
    status = "can-change" if "L" in link.flags else "finalized"
    return JSONResponse({"status": status, "files": files}, headers=_NO_STORE)


def _passcode_ok(shl: ShlComponents, link: Link, passcode: str | None) -> bool:
    return passcode is not None and verify_secret(passcode, link.doc.get("passcode"))


def _instant(link: Link, snapshot: bool) -> str:
    """A snapshot dates from the link's creation; everything else is built at this request."""
    moment = aware(link.doc["created"]) if snapshot else now()
    assert moment is not None
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


@router.get("/m/{manifest_id}")
def single_file(manifest_id: str, request: Request, recipient: str = "") -> Response:
    shl = shl_of(request)
    link = shl.store.by_manifest(manifest_id)
    if link is None or not link.active or "U" not in link.flags:
        raise _inactive()
    jwe = shl.encrypted(
        link,
        FHIR_JSON,
        engine_of(request),
        keys_of(request),
        fhir_base_of(request, shl.settings),
    )
    record_access(request, link, recipient, "0", "single file (U)")
    return Response(jwe, media_type=JOSE, headers=_NO_STORE)


@router.get("/f/{location}")
def file(location: str, request: Request) -> Response:
    shl = shl_of(request)
    found = shl.store.location(location)
    link = shl.store.get(found[0]) if found else None
    if found is None or link is None or not link.active:
        raise FhirError(Problem.NOT_FOUND, "This file location is unknown, expired or its link inactive")
    jwe = shl.encrypted(
        link, found[1], engine_of(request), keys_of(request), fhir_base_of(request, shl.settings)
    )
    record_access(request, link, "(file location)", "0", f"file {found[1]}")
    return Response(jwe, media_type=JOSE, headers=_NO_STORE)
