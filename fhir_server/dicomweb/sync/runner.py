"""A sync pass: new and changed studies of each hospital's Orthanc become ImagingStudy resources.

Per hospital, under its lease (sync_state):
1. what to look at: with a stored cursor, the Orthanc change feed since it (NewStudy, StableStudy, NewSeries,
   StableSeries name the studies that changed); without one (first run, or Orthanc's feed restarted below
   the cursor, e.g. a rebuilt index), every study in Orthanc. An interrupted full pass starts over: Orthanc
   lists studies by position only, and positions shift when studies are deleted, so resuming could skip
   some; starting over costs fetches but no writes;
2. each of those studies is fetched, mapped and written only if its content changed (study_sync);
   the cursor advances after each fully applied page, so an interrupted pass resumes where it stopped;
3. deletions: Orthanc's feed does not record them, so studies synced before and absent from Orthanc's study
   list now are marked (see study_sync.mark_deleted);
4. repairs: a study unchanged in Orthanc is not in its feed, so an ImagingStudy damaged on our side (deleted
   through the API, or overwritten without its series or Study Instance UID, e.g. by an old import) would
   never be fixed by step 1-2. Step 3 knows the studies still in Orthanc; one query finds those whose
   ImagingStudy lacks what a sync writes, and they are synced again.

One study that cannot be mapped is reported and skipped; an Orthanc that fails (down, too slow, refusing
our credentials) ends that hospital's pass with a clean error, and the other hospitals go on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from fhir_server.dicomweb.orthanc.connections import ConnectionStore, HospitalConnection
from fhir_server.dicomweb.orthanc.dicomweb_client import OrthancDicomweb
from fhir_server.dicomweb.orthanc.errors import OrthancFailure
from fhir_server.dicomweb.orthanc.rest import Change, OrthancRest
from fhir_server.dicomweb.sync.patients import PatientMatcher
from fhir_server.dicomweb.sync.state import SyncStateStore
from fhir_server.dicomweb.sync.study import StudyContext, StudyOutcome, mark_deleted, sync_study
from fhir_server.dicomweb.sync.synced_studies import SyncedStudies, SyncedStudy
from fhir_server.errors import FhirError
from fhir_server.interactions.lookup import FindIds
from fhir_server.patients import MatchCandidates
from fhir_server.settings import Settings
from fhir_server.storage.connection import DatabaseConnection
from fhir_server.storage.repository import ResourceStore
from mappers.errors import DicomMappingError
from terminology.systems import DICOM_UID_SYSTEM

log = logging.getLogger(__name__)

PAGE_SIZE = 100
_REPAIR_QUERY_BATCH = 500
_STUDY_CHANGES = {"NewStudy", "StableStudy"}
_SERIES_CHANGES = {"NewSeries", "StableSeries"}


class SyncProgress(Protocol):
    def start(self, hospital: HospitalConnection, total: int | None) -> None: ...

    def advance(self, hospital: HospitalConnection) -> None: ...

    def finish(self, hospital: HospitalConnection) -> None: ...


class NoProgress:
    def start(self, hospital: HospitalConnection, total: int | None) -> None:
        pass

    def advance(self, hospital: HospitalConnection) -> None:
        pass

    def finish(self, hospital: HospitalConnection) -> None:
        pass


@dataclass
class HospitalSyncResult:
    organization_id: str
    name: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    marked_deleted: int = 0
    repaired: int = 0  # damaged ImagingStudy resources synced again (also counted as created/updated)
    created_patients: list[str] = field(default_factory=list)  # "Patient/<id> (DICOM PatientID <x>)"
    ambiguous_patients: list[str] = field(default_factory=list)  # identifiers matching several Patients
    study_errors: list[str] = field(default_factory=list)
    failure: str | None = None  # why the pass stopped early; the next pass resumes
    skipped: str | None = None

    @property
    def completed(self) -> bool:
        return self.failure is None and self.skipped is None

    def count(self, outcome: StudyOutcome) -> None:
        if outcome == "created":
            self.created += 1
        elif outcome == "updated":
            self.updated += 1
        elif outcome == "unchanged":
            self.unchanged += 1

    def summary_line(self) -> str:
        head = f"{self.name} (Organization/{self.organization_id}): "
        if self.skipped:
            return head + f"skipped: {self.skipped}"
        counts = (
            f"{self.created} studies created, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.marked_deleted} marked deleted, {len(self.created_patients)} patients created"
        )
        if self.repaired:
            counts += f", {self.repaired} repaired"
        if self.study_errors:
            counts += f", {len(self.study_errors)} studies not mapped"
        return head + (counts if self.failure is None else f"{counts}; STOPPED: {self.failure}")

    def to_json(self) -> dict[str, Any]:
        return {
            "organization": f"Organization/{self.organization_id}",
            "name": self.name,
            "completed": self.completed,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "markedDeleted": self.marked_deleted,
            "repaired": self.repaired,
            "createdPatients": self.created_patients,
            "ambiguousPatients": self.ambiguous_patients,
            "studyErrors": self.study_errors,
            "failure": self.failure,
            "skipped": self.skipped,
            "summary": self.summary_line(),
        }


@dataclass
class SyncServices:
    """What a pass needs; built from the server's Services or by the CLI."""

    repository: ResourceStore
    find_ids: FindIds
    connections: ConnectionStore
    state: SyncStateStore
    studies: SyncedStudies
    candidates: MatchCandidates
    settings: Settings
    connection: DatabaseConnection  # the CLI's audit log (fhir_server.cli.dicomweb)

    def study_context(self, hospital: HospitalConnection) -> StudyContext:
        zone = ZoneInfo(self.settings.dicom_timezone) if self.settings.dicom_timezone else None
        matcher = PatientMatcher(
            self.repository, self.find_ids, hospital, self.settings.national_id_system, self.candidates
        )
        return StudyContext(self.repository, self.find_ids, self.studies, hospital, matcher, zone)


def sync_hospitals(
    services: SyncServices,
    hospitals: Iterable[HospitalConnection] | None = None,
    *,
    progress: SyncProgress | None = None,
    stop: threading.Event | None = None,
    lease_wait: float = 0.0,
) -> list[HospitalSyncResult]:
    chosen = list(services.connections.all()) if hospitals is None else list(hospitals)
    results = []
    for hospital in chosen:
        if stop is not None and stop.is_set():
            break
        results.append(sync_hospital(services, hospital, progress=progress, stop=stop, lease_wait=lease_wait))
    return results


def sync_hospital(
    services: SyncServices,
    hospital: HospitalConnection,
    *,
    progress: SyncProgress | None = None,
    stop: threading.Event | None = None,
    lease_wait: float = 0.0,
) -> HospitalSyncResult:
    """`lease_wait`: how long to wait for another pass of this hospital (the server's background loop, a
    CLI `sync`) to end before giving up with `skipped`."""
    result = HospitalSyncResult(hospital.organization_id, hospital.name)
    if not services.state.acquire_within(hospital.organization_id, lease_wait, stop):
        result.skipped = "another sync of this hospital is running"
        return result
    tracker = progress or NoProgress()
    ctx = services.study_context(hospital)
    try:
        with (
            OrthancRest(hospital, services.settings) as rest,
            OrthancDicomweb(hospital, services.settings) as web,
        ):
            _pass(services, ctx, rest, web, result, tracker, stop)
    except OrthancFailure as exc:
        result.failure = exc.message
    finally:
        tracker.finish(hospital)
        _collect_patients(ctx, result)
        if result.failure is None and not (stop is not None and stop.is_set()):
            services.state.completed(hospital.organization_id)
        elif result.failure is not None:
            services.state.failed(hospital.organization_id, result.failure)
        services.state.release(hospital.organization_id)
    log.info("dicomweb sync: %s", result.summary_line())
    return result


def sync_study_uids(
    services: SyncServices, hospital: HospitalConnection, study_uids: Iterable[str]
) -> HospitalSyncResult:
    """Sync the named studies now (after an upload), without moving the hospital's cursor."""
    result = HospitalSyncResult(hospital.organization_id, hospital.name)
    ctx = services.study_context(hospital)
    try:
        with (
            OrthancRest(hospital, services.settings) as rest,
            OrthancDicomweb(hospital, services.settings) as web,
        ):
            for uid in study_uids:
                orthanc_id = rest.lookup_study(uid)
                if orthanc_id is None:
                    result.study_errors.append(f"study {uid}: not found in the Orthanc of {hospital.name}")
                    continue
                _one_study(ctx, rest, web, orthanc_id, result)
    except OrthancFailure as exc:
        result.failure = exc.message
    _collect_patients(ctx, result)
    return result


def _pass(
    services: SyncServices,
    ctx: StudyContext,
    rest: OrthancRest,
    web: OrthancDicomweb,
    result: HospitalSyncResult,
    tracker: SyncProgress,
    stop: threading.Event | None,
) -> None:
    hospital = ctx.hospital
    last = rest.last_change()
    cursor = services.state.get(hospital.organization_id).cursor
    if cursor is None or cursor > last:
        every_study = list(rest.study_ids())
        tracker.start(hospital, len(every_study))
        for done, orthanc_id in enumerate(every_study, start=1):
            if _stopped(stop):
                return
            _one_study(ctx, rest, web, orthanc_id, result)
            tracker.advance(hospital)
            if done % PAGE_SIZE == 0:
                services.state.renew(hospital.organization_id)
        services.state.advance(hospital.organization_id, last)
    else:
        tracker.start(hospital, None)
        while True:
            page = rest.changes(cursor, PAGE_SIZE)
            for orthanc_id in _changed_studies(rest, page.changes):
                if _stopped(stop):
                    return
                _one_study(ctx, rest, web, orthanc_id, result)
                tracker.advance(hospital)
            cursor = max(cursor, page.last)
            services.state.advance(hospital.organization_id, cursor)
            services.state.renew(hospital.organization_id)
            if page.done or not page.changes:
                break
    _mark_deletions_and_repair(ctx, rest, web, result, stop)


def _one_study(
    ctx: StudyContext, rest: OrthancRest, web: OrthancDicomweb, orthanc_id: str, result: HospitalSyncResult
) -> None:
    try:
        result.count(sync_study(ctx, rest, web, orthanc_id))
    except (DicomMappingError, FhirError) as exc:
        message = exc.diagnostics if isinstance(exc, FhirError) else str(exc)
        result.study_errors.append(f"Orthanc study {orthanc_id}: {message}")
        log.warning(
            "dicomweb sync of %s: Orthanc study %s not mapped: %s", ctx.hospital.name, orthanc_id, message
        )


def _changed_studies(rest: OrthancRest, changes: list[Change]) -> list[str]:
    """The Orthanc ids of the studies a page of changes touches, each once, in feed order."""
    studies: dict[str, None] = {}
    for change in changes:
        if change.change_type in _STUDY_CHANGES:
            studies[change.orthanc_id] = None
        elif change.change_type in _SERIES_CHANGES:
            parent = rest.parent_study(change.orthanc_id)
            if parent is not None:
                studies[parent] = None
    return list(studies)


def _mark_deletions_and_repair(
    ctx: StudyContext,
    rest: OrthancRest,
    web: OrthancDicomweb,
    result: HospitalSyncResult,
    stop: threading.Event | None,
) -> None:
    present = set(rest.study_ids())
    still_there = []
    for study in ctx.studies.present(ctx.hospital.organization_id):
        if study.orthanc_id not in present:
            mark_deleted(ctx, study)
            result.marked_deleted += 1
        else:
            still_there.append(study)
    for study in _damaged(ctx, still_there):
        if _stopped(stop):
            return
        log.info(
            "dicomweb sync of %s: ImagingStudy/%s lacks its series or Study Instance UID; syncing it again",
            ctx.hospital.name,
            study.fhir_id,
        )
        written = result.created + result.updated
        _one_study(ctx, rest, web, study.orthanc_id, result)
        result.repaired += result.created + result.updated - written


def _damaged(ctx: StudyContext, studies: list[SyncedStudy]) -> list[SyncedStudy]:
    """The studies whose current ImagingStudy is missing, deleted, or lacks `series` or the
    `urn:dicom:uid` identifier: one indexed query per batch, whatever the number of studies."""
    collection = ctx.repository.collection("ImagingStudy")
    damaged = []
    for start in range(0, len(studies), _REPAIR_QUERY_BATCH):
        batch = studies[start : start + _REPAIR_QUERY_BATCH]
        whole = {
            doc["id"]
            for doc in collection.find(
                {
                    "id": {"$in": [s.fhir_id for s in batch]},
                    "cur": True,
                    "del": False,
                    "res.series.0": {"$exists": True},
                    "res.identifier.system": DICOM_UID_SYSTEM,
                },
                {"id": 1},
            )
        }
        damaged += [s for s in batch if s.fhir_id not in whole]
    return damaged


def _collect_patients(ctx: StudyContext, result: HospitalSyncResult) -> None:
    for match in ctx.created_patients:
        result.created_patients.append(f"{match.reference} (DICOM PatientID {match.patient_id or 'empty'})")
    result.ambiguous_patients += ctx.ambiguous_identifiers
    ctx.created_patients.clear()
    ctx.ambiguous_identifiers.clear()


def _stopped(stop: threading.Event | None) -> bool:
    return stop is not None and stop.is_set()
