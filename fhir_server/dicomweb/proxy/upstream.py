"""Forwarding one request to a hospital's Orthanc and streaming its answer back.

Orthanc's credentials are added here and never leave the server; responses are streamed (a whole study is
never held in memory), Orthanc URLs inside DICOM JSON and multipart part headers are rewritten to ours, and
the answer is gzip-encoded when the client accepts it (fhir_server.dicomweb.proxy.compression).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from email.message import Message
from urllib.parse import quote, urlencode

import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from fhir_server.dicomweb.orthanc.connections import DICOMWEB_ROOT, HospitalConnection
from fhir_server.dicomweb.orthanc.errors import status_failure, transport_failure
from fhir_server.dicomweb.proxy.accept import upstream_accept
from fhir_server.dicomweb.proxy.compression import accepts_gzip, gzipped, level_for
from fhir_server.dicomweb.proxy.paths import DicomwebTarget
from fhir_server.dicomweb.proxy.stream_rewrite import replace_in_part_headers, replace_in_stream
from fhir_server.observability.logs import request_id

log = logging.getLogger(__name__)

DICOM_JSON = "application/dicom+json"
_JSON_TYPES = (DICOM_JSON, "application/json")
_PASSED_RESPONSE_HEADERS = ("content-type", "content-length", "etag", "last-modified")


async def stream(
    http: httpx.AsyncClient, hospital: HospitalConnection, target: DicomwebTarget, request: Request, ours: str
) -> Response:
    """The WADO-RS (or in-study QIDO-RS) answer of the hospital's Orthanc, as ours."""
    accept = upstream_accept(target.path, request.headers.get("accept"))
    upstream_request = build(http, hospital, target.path, list(request.query_params.multi_items()), accept)
    upstream = await send(http, hospital, upstream_request, stream=True)
    headers = {k: v for k, v in upstream.headers.items() if k.lower() in _PASSED_RESPONSE_HEADERS}
    raw = _guarded(upstream, hospital)
    rewritten = _rewritten(raw, upstream, orthanc_base(upstream_request), ours.encode())
    body = rewritten or raw
    level = level_for(headers.get("content-type", ""))
    if level is not None and accepts_gzip(request.headers.get("accept-encoding")):
        body = gzipped(body, level)
        headers["Content-Encoding"] = "gzip"
        rewritten = body
    if rewritten is not None:
        headers.pop("content-length", None)
    headers["Vary"] = "Accept-Encoding"
    return StreamingResponse(
        body, status_code=upstream.status_code, headers=headers, background=BackgroundTask(upstream.aclose)
    )


def build(
    http: httpx.AsyncClient,
    hospital: HospitalConnection,
    path: str,
    query_pairs: Sequence[tuple[str, str]],
    accept: str,
) -> httpx.Request:
    # Only what DICOMweb needs goes upstream: no client cookies or tokens ever reach the PACS.
    # Identity encoding keeps pixel data byte-for-byte and its Content-Length valid.
    headers = {"Accept": accept, "Accept-Encoding": "identity"}
    url = f"{hospital.dicomweb_url}/{path}"
    # Re-encoded by hand: a generic encoder sends QIDO's `*`/`?` wildcards and `^` name separators as %2A/
    # %3F/%5E, which Orthanc compares literally (PS3.18 8.3.4.1: they are part of the matching syntax).
    query = urlencode(list(query_pairs), quote_via=quote, safe="*?^,")
    return http.build_request("GET", f"{url}?{query}" if query else url, headers=headers)


async def send(
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


def orthanc_base(upstream_request: httpx.Request) -> bytes:
    """Orthanc builds its absolute URLs from the Host header it received, i.e. the one httpx sent."""
    scheme = upstream_request.url.scheme
    host = upstream_request.headers["host"]
    path_prefix = upstream_request.url.path.split(DICOMWEB_ROOT + "/", 1)[0]
    return f"{scheme}://{host}{path_prefix}{DICOMWEB_ROOT}".encode()


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


async def _guarded(upstream: httpx.Response, hospital: HospitalConnection) -> AsyncIterator[bytes]:
    """The upstream body; a failure half-way is logged and re-raised so the client sees a broken transfer,
    never a short body that looks complete (a full study is never answered in part)."""
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
