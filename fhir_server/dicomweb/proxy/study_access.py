"""May this caller see that study? The proxy's only way in, and only through the caller's `SecuredStore`: a
study is shown when its ImagingStudy exists on this server and the store lets the caller read it, so images
are restricted exactly as the FHIR resource is (compartment, scope filters, default deny).

A study the sync has not seen yet has no ImagingStudy to decide on, so it is not served. "Not there" and
"not yours" come back alike (None / left out): the caller cannot tell them apart.
"""

from __future__ import annotations

from collections.abc import Iterable

from fhir_server.dicomweb import ids
from fhir_server.dicomweb.orthanc.connections import HospitalConnection
from fhir_server.dicomweb.sync.synced_studies import SyncedStudies
from fhir_server.security.access.store import SecuredStore, Shown
from fhir_server.type_aliases import JsonObject

STUDY_UID_TAG = "0020000D"
STUDY = "ImagingStudy"


def read_study(
    store: SecuredStore, studies: SyncedStudies, hospital: HospitalConnection, study_uid: str
) -> JsonObject | None:
    """The live ImagingStudy of `study_uid` at this hospital, if the caller may read it."""
    version = store.read(STUDY, _fhir_ids(studies, hospital, [study_uid])[study_uid])
    return version.resource if version is not None else None  # a deletion has no resource: not served


def visible_study_uids(
    store: SecuredStore,
    shown: Shown,
    studies: SyncedStudies,
    hospital: HospitalConnection,
    study_uids: Iterable[str],
) -> set[str]:
    """Those of `study_uids` at this hospital whose ImagingStudy the caller may see; each one shown is
    recorded in `shown` (for the request's AuditEvent)."""
    by_fhir_id = {fhir_id: uid for uid, fhir_id in _fhir_ids(studies, hospital, study_uids).items()}
    if not by_fhir_id:
        return set()
    # One query on the store's engine, which only ever reads the live studies the caller may read.
    engine = store.engine
    versions = engine.load(STUDY, engine.by_ids(STUDY, by_fhir_id))
    return {
        by_fhir_id[v.id]
        for v in versions
        if v.id in by_fhir_id and v.resource is not None and shown.visible(STUDY, v.resource)
    }


def result_study_uid(result: JsonObject) -> str | None:
    """Study Instance UID of a QIDO-RS result (DICOM JSON, PS3.18 F.2)."""
    values = (result.get(STUDY_UID_TAG) or {}).get("Value") or []
    return values[0] if values and isinstance(values[0], str) else None


def _fhir_ids(
    studies: SyncedStudies, hospital: HospitalConnection, study_uids: Iterable[str]
) -> dict[str, str]:
    """Study UID -> the id of its ImagingStudy at this hospital: the one the sync recorded (an adopted legacy
    study keeps its id), else the id the sync derives."""
    wanted = set(study_uids)
    known = studies.by_uids(hospital.organization_id, wanted)
    return {
        uid: known[uid].fhir_id if uid in known else ids.study_id(hospital.wado_endpoint_id, uid)
        for uid in wanted
    }
