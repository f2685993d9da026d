"""QIDO-RS across studies: one hospital's results cut down to the studies the caller may see, and paged over
what the caller may see.

`limit`/`offset` (PS3.18 §8.3.4.4) are applied here, after the access filter, never by Orthanc: paged by
Orthanc, a page of a patient-scoped search could come back empty while the patient's results remain further
down the PACS's list, and DICOMweb clients stop at the first short page. Orthanc is therefore asked for the
full list (search results are a few hundred bytes per match) and the page is cut from the visible ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from starlette.concurrency import run_in_threadpool

from fhir_server.dicomweb.orthanc.connections import HospitalConnection
from fhir_server.dicomweb.orthanc.errors import OrthancFailure
from fhir_server.dicomweb.proxy.study_access import result_study_uid, visible_study_uids
from fhir_server.dicomweb.proxy.upstream import DICOM_JSON, build, orthanc_base, send
from fhir_server.dicomweb.sync.synced_studies import SyncedStudies
from fhir_server.errors import FhirError, Problem
from fhir_server.security.access.store import SecuredStore, Shown

QueryPairs = Sequence[tuple[str, str]]
_PAGING = ("limit", "offset")
# The attribute naming one result of each QIDO-RS level, by which results from several hospitals are merged.
RESULT_KEYS = {"studies": "0020000D", "series": "0020000E", "instances": "00080018"}


@dataclass(frozen=True)
class Page:
    offset: int = 0
    limit: int | None = None

    def of(self, results: list[dict[str, Any]]) -> list[dict[str, Any]]:
        end = None if self.limit is None else self.offset + self.limit
        return results[self.offset : end]


def split_paging(query_pairs: QueryPairs) -> tuple[Page, list[tuple[str, str]]]:
    """The requested page, and the query without `limit`/`offset` (for Orthanc)."""
    values: dict[str, int] = {}
    for name, value in query_pairs:
        if name in _PAGING:
            if not value.isdigit():
                raise FhirError(
                    Problem.INVALID,
                    f"QIDO-RS {name} must be a non-negative integer",
                    [name],
                )
            values[name] = int(value)
    rest = [(name, value) for name, value in query_pairs if name not in _PAGING]
    return Page(values.get("offset", 0), values.get("limit")), rest


async def visible_results(
    http: httpx.AsyncClient,
    store: SecuredStore,
    shown: Shown,
    studies: SyncedStudies,
    hospital: HospitalConnection,
    level: str,
    query: QueryPairs,
    ours: str,
) -> list[dict[str, Any]]:
    """The hospital's QIDO-RS results at `level` whose study the caller may see, with our URLs in them.
    A result without a Study Instance UID cannot be decided on: left out (default deny)."""
    upstream_request = build(http, hospital, level, query, DICOM_JSON)
    upstream = await send(http, hospital, upstream_request, stream=False)
    results = _qido_results(hospital, upstream.content)
    uids = {uid for uid in map(result_study_uid, results) if uid}
    visible = await run_in_threadpool(visible_study_uids, store, shown, studies, hospital, uids)
    kept = [result for result in results if result_study_uid(result) in visible]
    if not kept:
        return []
    # Orthanc's absolute URLs (Retrieve URL) replaced by ours, on the serialized form: one pass, every field.
    body = orjson.dumps(kept).replace(orthanc_base(upstream_request), ours.encode())
    rewritten: list[dict[str, Any]] = orjson.loads(body)
    return rewritten


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
