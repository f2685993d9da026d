"""One DICOMweb root across hospitals: `/dicomweb/federated`.

QIDO-RS across studies asks every registered hospital at once and merges the results the caller may see by
their UID (Study, Series or SOP Instance UID for the three levels); a hospital that fails is left out with a
`Warning` header (PS3.18 §8.6.3: 299), unless all failed. Everything under `studies/{uid}` goes to the
hospital holding that study according to the synced index (`synced_studies`), provided the caller may read
its ImagingStudy there: the same decision as the per-hospital roots (study_access), so the same 404 for a
study that does not exist and one the caller may not see.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fhir_server.dicomweb.hospitals.addresses import PROXY_PREFIX, server_base
from fhir_server.dicomweb.orthanc.connections import HospitalConnection
from fhir_server.dicomweb.proxy.search import RESULT_KEYS, QueryPairs, visible_results
from fhir_server.dicomweb.proxy.study_access import read_study
from fhir_server.dicomweb.runtime import DicomwebRuntime
from fhir_server.errors import FhirError
from fhir_server.security.access.store import SecuredStore, Shown
from fhir_server.settings import Settings

FEDERATED = "federated"


def federated_address(settings: Settings) -> str:
    return f"{server_base(settings)}{PROXY_PREFIX}/{FEDERATED}"


def holder_of(store: SecuredStore, runtime: DicomwebRuntime, study_uid: str) -> HospitalConnection | None:
    """The hospital holding `study_uid` whose ImagingStudy of it the caller may read (blocking)."""
    for synced in runtime.studies.holders(study_uid):
        hospital = runtime.connections.get(synced.organization_id)
        if hospital is not None and read_study(store, runtime.studies, hospital, study_uid) is not None:
            return hospital
    return None


async def search_everywhere(
    runtime: DicomwebRuntime, store: SecuredStore, shown: Shown, level: str, query: QueryPairs, ours: str
) -> tuple[list[dict[str, Any]], list[str]]:
    """The merged visible results of every hospital, and the identifiers of the hospitals that failed."""
    hospitals = list(await asyncio.to_thread(lambda: list(runtime.connections.all())))
    answers = await asyncio.gather(
        *(
            visible_results(runtime.http, store, shown, runtime.studies, h, level, query, ours)
            for h in hospitals
        ),
        return_exceptions=True,
    )
    merged: dict[str, dict[str, Any]] = {}
    failed: list[str] = []
    first_error: FhirError | None = None
    key = RESULT_KEYS[level]
    for hospital, answer in zip(hospitals, answers, strict=True):
        if isinstance(answer, FhirError):
            failed.append(hospital.identifier)
            first_error = first_error or answer
            continue
        if isinstance(answer, BaseException):
            raise answer
        for result in answer:
            uid = _value(result, key)
            if uid is not None:
                merged.setdefault(uid, result)
    if first_error is not None and len(failed) == len(hospitals):
        raise first_error
    return list(merged.values()), failed


def _value(result: dict[str, Any], tag: str) -> str | None:
    values = (result.get(tag) or {}).get("Value") or []
    return values[0] if values and isinstance(values[0], str) else None
