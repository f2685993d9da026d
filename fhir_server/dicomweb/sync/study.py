"""One Orthanc study -> one ImagingStudy: fetch (QIDO-RS + WADO-RS metadata), match the patient, map
(mappers.imaging_study), write only if changed; and what happens to the ImagingStudy when Orthanc deletes
the study.

Deleted studies keep their ImagingStudy, with status `registered` and a note. Of the R4 codes
(https://hl7.org/fhir/R4/codesystem-imagingstudy-status.html) `cancelled` means the study was not started or
not completed, and `entered-in-error` that the record should never have existed: neither is known when a
PACS drops images (retention, migration to an archive, clean-up). `unknown` is not to be used when the
state is known, and `available` ("instances have been associated") would invite viewers to fetch images
that are gone. `registered` says exactly what remains: the study is on record, no instances are available
from its endpoint. The resource is not deleted, because reports and other resources refer to the study
and it is part of the patient's history. If the images come back, the next sync sets `available` again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any, Literal

from fhir_server.dicomweb import ids
from fhir_server.dicomweb.orthanc.connections import HospitalConnection
from fhir_server.dicomweb.orthanc.dicomweb_client import OrthancDicomweb
from fhir_server.dicomweb.orthanc.rest import OrthancRest
from fhir_server.dicomweb.sync.patients import PatientMatch, PatientMatcher
from fhir_server.dicomweb.sync.synced_studies import SyncedStudies, SyncedStudy
from fhir_server.dicomweb.sync.writes import WriteOutcome, merged, write_if_changed
from fhir_server.interactions.lookup import FindIds, identifier_query
from fhir_server.storage.repository import ResourceStore
from mappers.dicom_json import with_fallback
from mappers.fhir_json import content
from mappers.imaging_study import study_from_dicom_json
from mappers.legacy import ORTHANC_STUDY_ID_SYSTEM
from terminology.systems import DICOM_UID_SYSTEM, V2_0203_SYSTEM

DELETED_STATUS = "registered"
# Annotation.authorString of the notes the sync writes, so that it can take them back.
SYNC_NOTE_AUTHOR = "DICOMweb sync"

# Every element the mapper may produce: one it no longer produces is removed, the others are kept.
MAPPED_ELEMENTS = frozenset(
    {
        "identifier",
        "status",
        "modality",
        "subject",
        "started",
        "referrer",
        "endpoint",
        "numberOfSeries",
        "numberOfInstances",
        "procedureCode",
        "location",
        "reasonCode",
        "description",
        "series",
        "note",
    }
)

StudyOutcome = Literal["created", "updated", "unchanged", "gone"]

_PENDING_SUBJECT = "Patient/pending-match"


@dataclass
class StudyContext:
    repository: ResourceStore
    find_ids: FindIds
    studies: SyncedStudies
    hospital: HospitalConnection
    patients: PatientMatcher
    local_timezone: tzinfo | None
    created_patients: list[PatientMatch] = field(default_factory=list)
    ambiguous_identifiers: list[str] = field(default_factory=list)
    # "Patient/new ~ Patient/existing": a match candidate was recorded for a person to merge or dismiss.
    possible_duplicates: list[str] = field(default_factory=list)


def sync_study(ctx: StudyContext, rest: OrthancRest, web: OrthancDicomweb, orthanc_id: str) -> StudyOutcome:
    """Raises OrthancFailure if Orthanc fails; DicomMappingError or FhirError if the study is unmappable."""
    summary = rest.study(orthanc_id)
    uid = (summary or {}).get("MainDicomTags", {}).get("StudyInstanceUID")
    study = web.study(uid) if uid else None
    if summary is None or uid is None or study is None:
        # Deleted between listing and fetching: the deletion check takes care of it.
        return "gone"
    series = web.series(uid)
    instances = web.metadata(uid)
    # Mapped before the patient is matched, so that a study that cannot be mapped creates no Patient.
    mapped = study_from_dicom_json(
        study,
        series,
        instances,
        patient_ref=_PENDING_SUBJECT,
        endpoint_ref=f"Endpoint/{ctx.hospital.wado_endpoint_id}",
        status="available",
        local_timezone=ctx.local_timezone,
    )
    patient = ctx.patients.match(with_fallback(study, *instances[:1]), uid)
    mapped["subject"] = {"reference": patient.reference}
    if patient.created:
        ctx.created_patients.append(patient)
    ctx.ambiguous_identifiers += [f"study {uid}: {identifier}" for identifier in patient.ambiguous]
    ctx.possible_duplicates += [f"{patient.reference} ~ {other}" for other in patient.possible_duplicates]
    fhir_id = _study_fhir_id(ctx, orthanc_id, uid)
    current = ctx.repository.read("ImagingStudy", fhir_id)
    existing = current.resource if current is not None and not current.deleted else None
    resource = _with_kept_parts(existing, mapped, fhir_id, ctx.hospital, orthanc_id)
    outcome, _ = write_if_changed(ctx.repository, resource)
    ctx.studies.record(ctx.hospital.organization_id, orthanc_id, uid, fhir_id)
    return outcome


def mark_deleted(ctx: StudyContext, study: SyncedStudy, when: datetime | None = None) -> WriteOutcome | None:
    """Status `registered` plus a note (see the module docstring); None if the ImagingStudy is gone."""
    current = ctx.repository.read("ImagingStudy", study.fhir_id)
    outcome: WriteOutcome | None = None
    if current is not None and not current.deleted and current.resource is not None:
        resource = content(current.resource)
        resource["status"] = DELETED_STATUS
        moment = (when or datetime.now(UTC)).isoformat(timespec="seconds").replace("+00:00", "Z")
        note = {
            "authorString": SYNC_NOTE_AUTHOR,
            "time": moment,
            "text": f"Images deleted from the PACS of {ctx.hospital.name}; the study record is kept.",
        }
        resource["note"] = [*_notes_not_by_sync(resource), note]
        outcome, _ = write_if_changed(ctx.repository, resource)
    ctx.studies.mark_deleted(study)
    return outcome


def _study_fhir_id(ctx: StudyContext, orthanc_id: str, uid: str) -> str:
    known = ctx.studies.by_orthanc_id(ctx.hospital.organization_id, orthanc_id) or ctx.studies.by_uid(
        ctx.hospital.organization_id, uid
    )
    if known is not None:
        return known.fhir_id
    return _legacy_study(ctx, orthanc_id) or ids.study_id(ctx.hospital.wado_endpoint_id, uid)


def _legacy_study(ctx: StudyContext, orthanc_id: str) -> str | None:
    """An ImagingStudy the legacy import made for this Orthanc study (same Orthanc id, same hospital)."""
    found = ctx.find_ids(
        ctx.repository, "ImagingStudy", identifier_query(ORTHANC_STUDY_ID_SYSTEM, orthanc_id)
    )
    for fhir_id in found:
        version = ctx.repository.read("ImagingStudy", fhir_id)
        resource = version.resource if version is not None else None
        if resource is not None and _belongs_to(resource, ctx.hospital, orthanc_id):
            return fhir_id
    return None


def _belongs_to(resource: dict[str, Any], hospital: HospitalConnection, orthanc_id: str) -> bool:
    endpoints = {e.get("reference") for e in resource.get("endpoint") or []}
    assigners = {
        (i.get("assigner") or {}).get("reference")
        for i in resource.get("identifier") or []
        if i.get("system") == ORTHANC_STUDY_ID_SYSTEM and i.get("value") == orthanc_id
    }
    return (
        f"Endpoint/{hospital.wado_endpoint_id}" in endpoints or hospital.organization_reference in assigners
    )


def _with_kept_parts(
    existing: dict[str, Any] | None,
    mapped: dict[str, Any],
    fhir_id: str,
    hospital: HospitalConnection,
    orthanc_id: str,
) -> dict[str, Any]:
    """The mapped study plus what others added: identifiers of other systems (the legacy study id),
    notes not written by the sync, and elements the mapping does not own."""
    orthanc_identifier = {
        "system": ORTHANC_STUDY_ID_SYSTEM,
        "value": orthanc_id,
        "assigner": {"reference": hospital.organization_reference},
    }
    identifiers = [*mapped["identifier"], orthanc_identifier]
    if existing is not None:
        identifiers += [i for i in existing.get("identifier") or [] if not _mapped_identifier(i)]
    resource = merged(existing, {**mapped, "id": fhir_id, "identifier": identifiers}, MAPPED_ELEMENTS)
    if "description" not in mapped and existing is not None and existing.get("description"):
        # The DICOM has no Study Description and someone (the legacy import, a user) filled the gap: a gap
        # stays filled; DICOM only wins where it says something.
        resource["description"] = existing["description"]
    notes = _notes_not_by_sync(existing or {})
    if notes:
        resource["note"] = notes
    return resource


def _mapped_identifier(identifier: dict[str, Any]) -> bool:
    codes = {(c.get("system"), c.get("code")) for c in (identifier.get("type") or {}).get("coding") or []}
    return (
        identifier.get("system") in (DICOM_UID_SYSTEM, ORTHANC_STUDY_ID_SYSTEM)
        or (V2_0203_SYSTEM, "ACSN") in codes
    )


def _notes_not_by_sync(resource: dict[str, Any]) -> list[dict[str, Any]]:
    return [n for n in resource.get("note") or [] if n.get("authorString") != SYNC_NOTE_AUTHOR]
