"""The DICOMweb proxy: `GET /dicomweb/{endpoint-id}/…` forwarded to that hospital's Orthanc.

Data is reached only through the caller's `SecuredStore` (a request without a verified token gets a 401
before anything is looked up). Before anything is forwarded, the study named in the path is resolved to its
ImagingStudy through the store: a study that does not exist and one the caller may not see get the same 404
(same status, body and headers), so the proxy is no oracle for other patients' study UIDs. A QIDO-RS search
across studies needs search access to ImagingStudy (403 from the token's scopes alone) and comes back with
only the visible studies' results (so a page may hold fewer than `limit`; `offset` pages Orthanc's list).
Orthanc's credentials are added here and never leave the server; responses are streamed (a whole study is
never held in memory), and Orthanc URLs inside DICOM JSON and multipart part headers are rewritten to ours.
Orthanc down -> 503, too slow -> 504, other upstream trouble -> 502, all as generic OperationOutcomes
(Orthanc's own text goes to the log only, see orthanc_errors). PS3.18 §10.4 (WADO-RS), §10.6 (QIDO-RS).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from email.message import Message
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import orjson
from fastapi import APIRouter, Request
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from fhir_server.api.dependencies import ServicesDep
from fhir_server.dicomweb.hospitals.addresses import PROXY_PREFIX, endpoint_address
from fhir_server.dicomweb.orthanc.connections import DICOMWEB_ROOT, HospitalConnection
from fhir_server.dicomweb.orthanc.errors import (
    NOT_FOUND_MESSAGE,
    OrthancFailure,
    status_failure,
    transport_failure,
)
from fhir_server.dicomweb.proxy.paths import DicomwebTarget, parse_target
from fhir_server.dicomweb.proxy.stream_rewrite import replace_in_part_headers, replace_in_stream
from fhir_server.dicomweb.proxy.study_access import STUDY, read_study, result_study_uid, visible_study_uids
from fhir_server.dicomweb.runtime import DicomwebRuntime, RuntimeDep
from fhir_server.errors import FhirError, Problem
from fhir_server.observability.logs import request_id
from fhir_server.security.access.store import SecuredStore, secured

log = logging.getLogger(__name__)

router = APIRouter(prefix=PROXY_PREFIX, tags=["DICOMweb proxy"])

DICOM_JSON = "application/dicom+json"
_JSON_TYPES = (DICOM_JSON, "application/json")
_PASSED_RESPONSE_HEADERS = ("content-type", "content-length", "etag", "last-modified")


@router.get("/{endpoint_id}/{path:path}")
async def dicomweb_get(
    endpoint_id: str, path: str, request: Request, services: ServicesDep, runtime: RuntimeDep
) -> Response:
    target = parse_target(path)
    # First the caller's store: 401 without a verified token, before anything at all is looked up.
    across = target is not None and target.searches_across_studies
    store = secured(request, "search" if across else "read")
    hospital = await run_in_threadpool(runtime.connections.by_endpoint, endpoint_id)
    if hospital is None:
        raise FhirError(Problem.NOT_FOUND, f"There is no DICOMweb endpoint {endpoint_id!r} on this server")
    if target is None:
        raise FhirError(
            Problem.NOT_SUPPORTED,
            f"'{path[:200]}' is not a DICOMweb QIDO-RS or WADO-RS resource this proxy serves",
        )
    ours = endpoint_address(services.settings, endpoint_id)
    if target.study_uid is None:
        return await _search_across_studies(request, store, runtime, hospital, target, ours)
    study = await run_in_threadpool(read_study, store, runtime.studies, hospital, target.study_uid)
    if study is None:
        # Absent, not synced yet, or not the caller's: one answer for all (no existence oracle).
        raise FhirError(Problem.NOT_FOUND, NOT_FOUND_MESSAGE)
    return await _stream(runtime.http, hospital, target, request, ours)


async def _search_across_studies(
    request: Request,
    store: SecuredStore,
    runtime: DicomwebRuntime,
    hospital: HospitalConnection,
    target: DicomwebTarget,
    ours: str,
) -> Response:
    # Decided by the token's scopes alone, before Orthanc is asked anything.
    store.require("search", STUDY)
    upstream_request = _upstream_request(runtime.http, hospital, target, request, accept=DICOM_JSON)
    upstream = await _send(runtime.http, hospital, upstream_request, stream=False)
    results = _qido_results(hospital, upstream.content)
    uids = {uid for uid in map(result_study_uid, results) if uid}
    showing = store.showing()
    visible = await run_in_threadpool(visible_study_uids, store, showing, runtime.studies, hospital, uids)
    # A result without a Study Instance UID cannot be decided on: left out (default deny).
    shown = [result for result in results if result_study_uid(result) in visible]
    await run_in_threadpool(showing.record, request.url.path)
    body = orjson.dumps(shown).replace(_orthanc_base(upstream_request), ours.encode())
    return Response(body, media_type=DICOM_JSON)


async def _stream(
    http: httpx.AsyncClient, hospital: HospitalConnection, target: DicomwebTarget, request: Request, ours: str
) -> Response:
    upstream_request = _upstream_request(
        http, hospital, target, request, accept=request.headers.get("accept")
    )
    upstream = await _send(http, hospital, upstream_request, stream=True)
    headers = {k: v for k, v in upstream.headers.items() if k.lower() in _PASSED_RESPONSE_HEADERS}
    raw = _guarded(upstream, hospital)
    rewritten = _rewritten(raw, upstream, _orthanc_base(upstream_request), ours.encode())
    if rewritten is not None:
        headers.pop("content-length", None)
    return StreamingResponse(
        rewritten or raw,
        status_code=upstream.status_code,
        headers=headers,
        background=BackgroundTask(upstream.aclose),
    )


def _qido_results(hospital: HospitalConnection, body: bytes) -> list[dict[str, Any]]:
    try:
        results = orjson.loads(body) if body.strip() else []
    except orjson.JSONDecodeError:
        results = None
    if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
        failure = OrthancFailure(
            "error", f"the Orthanc of {hospital.name} sent a QIDO-RS answer that is not DICOM JSON"
        )
        raise failure.to_fhir_error()
    return results


def _rewritten(
    body: AsyncIterator[bytes], upstream: httpx.Response, orthanc: bytes, ours: bytes
) -> AsyncIterator[bytes] | None:
    """The body with Orthanc's URLs replaced by ours: everywhere in DICOM JSON, in the part headers of a
    multipart answer (Content-Location); None when nothing needs rewriting (e.g. a rendered JPEG)."""
    header = Message()
    header["content-type"] = upstream.headers.get("content-type", "application/octet-stream")
    media_type = header.get_content_type()
    if media_type in _JSON_TYPES:
        return replace_in_stream(body, orthanc, ours)
    boundary = header.get_param("boundary")
    if header.get_content_maintype() == "multipart" and isinstance(boundary, str) and boundary:
        return replace_in_part_headers(body, boundary.encode(), orthanc, ours)
    return None


def _upstream_request(
    http: httpx.AsyncClient,
    hospital: HospitalConnection,
    target: DicomwebTarget,
    request: Request,
    *,
    accept: str | None,
) -> httpx.Request:
    # Only what DICOMweb needs goes upstream: no client cookies or tokens ever reach the PACS.
    # Identity encoding keeps pixel data byte-for-byte and its Content-Length valid.
    headers = {"Accept": accept or "*/*", "Accept-Encoding": "identity"}
    url = f"{hospital.dicomweb_url}/{target.path}"
    # Re-encoded by hand: a generic encoder sends QIDO's `*`/`?` wildcards and `^` name separators as %2A/
    # %3F/%5E, which Orthanc compares literally (PS3.18 8.3.4.1: they are part of the matching syntax).
    query = urlencode(list(request.query_params.multi_items()), quote_via=quote, safe="*?^,")
    return http.build_request("GET", f"{url}?{query}" if query else url, headers=headers)


async def _send(
    http: httpx.AsyncClient, hospital: HospitalConnection, upstream_request: httpx.Request, *, stream: bool
) -> httpx.Response:
    try:
        upstream = await http.send(upstream_request, auth=hospital.auth, stream=stream)
    except httpx.TransportError as exc:
        timeout = http.timeout.read or 0.0
        raise transport_failure(hospital.name, exc, timeout).to_fhir_error() from None
    if upstream.status_code >= 400:
        detail = (await upstream.aread()).decode("utf-8", "replace")
        await upstream.aclose()
        raise status_failure(hospital.name, upstream.status_code, detail).to_fhir_error()
    return upstream


async def _guarded(upstream: httpx.Response, hospital: HospitalConnection) -> AsyncIterator[bytes]:
    """The upstream body; a failure half-way is logged and re-raised so the client sees a broken transfer,
    never a short body that looks complete."""
    try:
        async for chunk in upstream.aiter_raw():
            yield chunk
    except httpx.TransportError:
        log.warning(
            "DICOMweb proxy, request %s: the Orthanc of %s broke off a response",
            request_id.get() or "-",
            hospital.name,
        )
        raise
    finally:
        # Also when the client went away mid-transfer: the pooled connection must go back.
        await upstream.aclose()


def _orthanc_base(upstream_request: httpx.Request) -> bytes:
    """Orthanc builds its absolute URLs from the Host header it received, i.e. the one httpx sent."""
    scheme = upstream_request.url.scheme
    host = upstream_request.headers["host"]
    path_prefix = upstream_request.url.path.split(DICOMWEB_ROOT + "/", 1)[0]
    return f"{scheme}://{host}{path_prefix}{DICOMWEB_ROOT}".encode()
