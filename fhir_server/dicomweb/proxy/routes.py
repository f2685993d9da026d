"""The DICOMweb proxy: `GET /dicomweb/{endpoint-id}/…` forwarded to that hospital's Orthanc, and
`GET /dicomweb/federated/…`, one root over every hospital (fhir_server.dicomweb.proxy.federated).

Data is reached only through the caller's `SecuredStore` (a request without a verified token gets a 401
before anything is looked up). Before anything is forwarded, the study named in the path is resolved to its
ImagingStudy through the store: a study that does not exist and one the caller may not see get the same 404
(same status, body and headers), so the proxy is no oracle for other patients' study UIDs. Access is decided
per study, so a study retrieval is whole or denied, never cut short by access rules. A QIDO-RS search across
studies needs search access to ImagingStudy (403 from the token's scopes alone) and comes back with only the
visible studies' results, paged over those (fhir_server.dicomweb.proxy.search).
Orthanc down, too slow or busy -> 503 with Retry-After, other upstream trouble -> 502, all as generic
OperationOutcomes (Orthanc's own text goes to the log only, see orthanc_errors). PS3.18 §10.4 (WADO-RS),
§10.6 (QIDO-RS).
"""

from __future__ import annotations

import gzip
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from fhir_server.api.dependencies import ServicesDep
from fhir_server.dicomweb.hospitals.addresses import PROXY_PREFIX, endpoint_address
from fhir_server.dicomweb.orthanc.errors import NOT_FOUND_MESSAGE
from fhir_server.dicomweb.proxy.compression import accepts_gzip, level_for
from fhir_server.dicomweb.proxy.federated import FEDERATED, federated_address, holder_of, search_everywhere
from fhir_server.dicomweb.proxy.paths import DicomwebTarget, parse_target
from fhir_server.dicomweb.proxy.search import split_paging, visible_results
from fhir_server.dicomweb.proxy.study_access import STUDY, read_study
from fhir_server.dicomweb.proxy.upstream import DICOM_JSON, stream
from fhir_server.dicomweb.runtime import RuntimeDep
from fhir_server.errors import FhirError, Problem
from fhir_server.security.access.store import SecuredStore, secured

router = APIRouter(prefix=PROXY_PREFIX, tags=["DICOMweb proxy"])


# Registered before the per-hospital route, which would otherwise take "federated" for an Endpoint id.
@router.get(f"/{FEDERATED}/{{path:path}}")
async def federated_get(path: str, request: Request, services: ServicesDep, runtime: RuntimeDep) -> Response:
    target, store = _target_and_store(path, request)
    ours = federated_address(services.settings)
    if target.study_uid is None:
        store.require("search", STUDY)  # by the token's scopes alone, before any PACS is asked
        page, query = split_paging(list(request.query_params.multi_items()))
        showing = store.showing()
        results, failed = await search_everywhere(runtime, store, showing, target.path, query, ours)
        await run_in_threadpool(showing.record, request.url.path)
        headers = {"Warning": _warning(failed)} if failed else {}
        return _dicom_json(request, page.of(results), headers)
    hospital = await run_in_threadpool(holder_of, store, runtime, target.study_uid)
    if hospital is None:
        raise FhirError(Problem.NOT_FOUND, NOT_FOUND_MESSAGE)
    return await stream(runtime.http, hospital, target, request, ours)


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
        raise _not_served(path)
    ours = endpoint_address(services.settings, endpoint_id)
    if target.study_uid is None:
        store.require("search", STUDY)
        page, query = split_paging(list(request.query_params.multi_items()))
        showing = store.showing()
        results = await visible_results(
            runtime.http, store, showing, runtime.studies, hospital, target.path, query, ours
        )
        await run_in_threadpool(showing.record, request.url.path)
        return _dicom_json(request, page.of(results))
    study = await run_in_threadpool(read_study, store, runtime.studies, hospital, target.study_uid)
    if study is None:
        # Absent, not synced yet, or not the caller's: one answer for all (no existence oracle).
        raise FhirError(Problem.NOT_FOUND, NOT_FOUND_MESSAGE)
    return await stream(runtime.http, hospital, target, request, ours)


def _target_and_store(path: str, request: Request) -> tuple[DicomwebTarget, SecuredStore]:
    target = parse_target(path)
    across = target is not None and target.searches_across_studies
    store = secured(request, "search" if across else "read")
    if target is None:
        raise _not_served(path)
    return target, store


def _not_served(path: str) -> FhirError:
    return FhirError(
        Problem.NOT_SUPPORTED,
        f"'{path[:200]}' is not a DICOMweb QIDO-RS or WADO-RS resource this proxy serves",
    )


def _dicom_json(
    request: Request, results: list[dict[str, Any]], headers: dict[str, str] | None = None
) -> Response:
    body = orjson.dumps(results)
    out = {**(headers or {}), "Vary": "Accept-Encoding"}
    level = level_for(DICOM_JSON)
    if level is not None and accepts_gzip(request.headers.get("accept-encoding")):
        body = gzip.compress(body, level)
        out["Content-Encoding"] = "gzip"
    return Response(body, media_type=DICOM_JSON, headers=out)


def _warning(failed: list[str]) -> str:
    names = ", ".join(failed).encode("ascii", "replace").decode().replace('"', "'")
    return f'299 - "Results are missing from hospitals whose PACS did not answer: {names}"'
