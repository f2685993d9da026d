"""The manifest service (SHL IG STU1 §"Manifest request" and §"U flag"), public — the link is the secret:

- `POST /shl/m/{manifest id}` `{"recipient", "passcode"?, "embeddedLengthMax"?}` -> 200 manifest;
  401 `{"remainingAttempts": n}` for a wrong or missing passcode (lifetime budget: an attempt is taken
  atomically before the passcode is compared, see fhir_server.shl.store); 404 for an unknown, expired,
  revoked, used-up or suspended link (its creator's user or client deleted or disabled).
- `GET /shl/m/{manifest id}?recipient=…` (U flag) -> the single JWE, `application/jose`; `recipient` is
  required as in the manifest request (400 without it).
- `GET /shl/f/{location}` -> one file's JWE; locations live at most FHIR_SHL_LOCATION_SECONDS (<= 1 hour).

The content is built with the link creator's access (fhir_server.shl.components), never more.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from fhir_server.errors import FhirError, Problem
from fhir_server.security.accounts.passwords import verify_secret
from fhir_server.shl.access_log import record_access
from fhir_server.shl.components import FILE_PATH, fhir_base_of, shl_of
from fhir_server.shl.content import FHIR_JSON
from fhir_server.shl.store import Link, aware, now
from fhir_server.subscriptions import subscriptions_of

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
    _require_recipient(body.get("recipient"))
    limit = body.get("embeddedLengthMax")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
        raise FhirError(Problem.INVALID, "embeddedLengthMax: a non-negative integer", ["embeddedLengthMax"])
    passcode = body.get("passcode")
    if passcode is not None and not isinstance(passcode, str):
        raise FhirError(Problem.INVALID, "passcode: a string", ["passcode"])
    return body


def _require_recipient(recipient: object) -> str:
    """SHL IG STU1: `recipient` is required in a manifest request and in a U-flag GET; the access log
    names it."""
    if not isinstance(recipient, str) or not recipient.strip():
        raise FhirError(Problem.REQUIRED, "recipient: required (a string naming who asks)", ["recipient"])
    return recipient


@router.post("/m/{manifest_id}")
async def manifest(manifest_id: str, request: Request) -> Response:
    body = _request_body(await request.body())
    return await run_in_threadpool(_manifest, request, manifest_id, body)


def _manifest(request: Request, manifest_id: str, body: dict[str, Any]) -> Response:
    shl = shl_of(request)
    link = shl.store.by_manifest(manifest_id)
    creator = shl.serving(link) if link is not None and "U" not in link.flags else None
    if link is None or creator is None:
        raise _inactive()
    recipient: str = body["recipient"]
    if "P" in link.flags:
        refused = _passcode_refused(request, link, recipient, body.get("passcode"))
        if refused is not None:
            return refused
    limit: int | None = body.get("embeddedLengthMax")  # checked by _request_body
    fhir_base = fhir_base_of(request, shl.settings)
    content_types = shl.content_types(link)
    jwes = shl.encrypted(link, creator, content_types, request, recipient) if limit is not None else []
    files = []
    for index, content_type in enumerate(content_types):
        snapshot = content_type == FHIR_JSON and "L" not in link.flags
        entry: dict[str, Any] = {"contentType": content_type, "lastUpdated": _instant(link, snapshot)}
        embedded = None
        if limit is not None and len(jwes[index]) <= limit:
            embedded = jwes[index]
        if embedded is not None:
            entry["embedded"] = embedded
        else:
            token = shl.store.add_location(link.id, content_type, shl.settings.shl_location_seconds)
            entry["location"] = shl.origin(fhir_base) + FILE_PATH + token
        files.append(entry)
    record_access(request, link, recipient, "0", "manifest")
    subscriptions_of(request.app.state).share_link_opened(link.patient)
    status = "can-change" if "L" in link.flags else "finalized"
    return JSONResponse({"status": status, "files": files}, headers=_NO_STORE)


def _passcode_refused(request: Request, link: Link, recipient: str, passcode: str | None) -> Response | None:
    """None for the right passcode; else the 401 (or 404 once the budget is used up).

    The attempt is taken BEFORE the comparison (atomic, guarded by attempts > 0), so parallel guesses cannot
    all pass a check of the count and then be compared: with a budget of N, at most N wrong passcodes are
    ever compared. The right one gives its attempt back."""
    store = shl_of(request).store
    remaining = store.take_attempt(link.id)
    if remaining is None:
        record_access(request, link, recipient, "4", "passcode attempts used up, not compared")
        raise _inactive()
    if passcode is None or not verify_secret(passcode, link.doc.get("passcode")):
        record_access(request, link, recipient, "4", "wrong passcode")
        return JSONResponse({"remainingAttempts": remaining}, 401, headers=_NO_STORE)
    store.give_back_attempt(link.id)
    return None


def _instant(link: Link, snapshot: bool) -> str:
    """A snapshot dates from the link's creation; everything else is built at this request."""
    moment = aware(link.doc["created"]) if snapshot else now()
    assert moment is not None
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


@router.get("/m/{manifest_id}")
def single_file(manifest_id: str, request: Request, recipient: str | None = None) -> Response:
    checked = _require_recipient(recipient)
    shl = shl_of(request)
    link = shl.store.by_manifest(manifest_id)
    creator = shl.serving(link) if link is not None and "U" in link.flags else None
    if link is None or creator is None:
        raise _inactive()
    (jwe,) = shl.encrypted(link, creator, [FHIR_JSON], request, checked)
    record_access(request, link, checked, "0", "single file (U)")
    return Response(jwe, media_type=JOSE, headers=_NO_STORE)


@router.get("/f/{location}")
def file(location: str, request: Request) -> Response:
    shl = shl_of(request)
    found = shl.store.location(location)
    link = shl.store.get(found[0]) if found else None
    creator = shl.serving(link) if link is not None else None
    if found is None or link is None or creator is None:
        raise FhirError(Problem.NOT_FOUND, "This file location is unknown, expired or its link inactive")
    (jwe,) = shl.encrypted(link, creator, [found[1]], request, "(file location)")
    record_access(request, link, "(file location)", "0", f"file {found[1]}")
    return Response(jwe, media_type=JOSE, headers=_NO_STORE)
