"""May this request see that study? The proxy's only way in: a study is shown when its ImagingStudy exists on
this server and the authorization hook allows reading it (so a SMART implementation of the hook restricts
images exactly as it restricts the FHIR resource).

A study the sync has not seen yet has no ImagingStudy to authorize against, so it is not served.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from starlette.requests import Request

from fhir_server.authz import Authorizer
from fhir_server.dicomweb import ids
from fhir_server.dicomweb.connections import HospitalConnection
from fhir_server.dicomweb.synced_studies import SyncedStudies
from fhir_server.storage.mongo import MongoRepository

JsonObject = dict[str, Any]
STUDY_UID_TAG = "0020000D"


def find_study(
    repository: MongoRepository, studies: SyncedStudies, hospital: HospitalConnection, study_uid: str
) -> JsonObject | None:
    """The live ImagingStudy of `study_uid` at this hospital."""
    known = studies.by_uid(hospital.organization_id, study_uid)
    fhir_id = known.fhir_id if known is not None else ids.study_id(hospital.wado_endpoint_id, study_uid)
    return _live(repository, fhir_id)


def allowed_study_uids(
    repository: MongoRepository,
    studies: SyncedStudies,
    authorizer: Authorizer,
    request: Request,
    hospital: HospitalConnection,
    study_uids: Iterable[str],
) -> set[str]:
    wanted = set(study_uids)
    known = studies.by_uids(hospital.organization_id, wanted)
    allowed = set()
    for uid in wanted:
        fhir_id = known[uid].fhir_id if uid in known else ids.study_id(hospital.wado_endpoint_id, uid)
        resource = _live(repository, fhir_id)
        if resource is not None and authorizer.allows(request, "read", "ImagingStudy", resource):
            allowed.add(uid)
    return allowed


def result_study_uid(result: JsonObject) -> str | None:
    """Study Instance UID of a QIDO-RS result (DICOM JSON, PS3.18 F.2)."""
    values = (result.get(STUDY_UID_TAG) or {}).get("Value") or []
    return values[0] if values and isinstance(values[0], str) else None


def _live(repository: MongoRepository, fhir_id: str) -> JsonObject | None:
    version = repository.read("ImagingStudy", fhir_id)
    if version is None or version.deleted:
        return None
    return version.resource
