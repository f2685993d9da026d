"""Loading the demo: FHIR resources first (always), then — per hospital whose Orthanc answers — real DICOM
studies uploaded with STOW-RS and a sync pass, so that each ImagingStudy is what Orthanc returns.

Idempotent: resources are written only when absent (a demo study enriched by the sync is not reset), a study
whose images are already in its Orthanc is not uploaded again, and user accounts are created once.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fhir_server.api.dependencies import Services
from fhir_server.demo.dataset import NATIONAL_ID_ISSUER, DemoStudy, demo_studies, rows
from fhir_server.demo.dicom_samples import make_study
from fhir_server.dicomweb import (
    HospitalChanges,
    HospitalConnection,
    HospitalRequest,
    OrthancFailure,
    OrthancRest,
    SyncServices,
    create_hospital,
    seal_passwords,
    sync_hospital,
    sync_services,
    update_hospital,
    upload_datasets,
)
from fhir_server.security.accounts.users import UserRegistry
from mappers.imaging_study import study_uid_from_identifier
from mappers.legacy import map_legacy_database
from mappers.legacy_modality import modality_lookup_from_terminology
from terminology.systems import DICOM_UID_SYSTEM

CREDENTIALS_FILE = "demo-credentials.json"
_LEASE_WAIT_SECONDS = 120.0
# Demo sign-ins for the dashboard: one per staff role.
DEMO_USERS = {
    "demo-admin": ("admin", "Demo Administrator"),
    "demo-clinician": ("clinician", "Demo Clinician"),
}
DEMO_ROLES = {user: role for user, (role, _) in DEMO_USERS.items()}


@dataclass(frozen=True)
class OrthancAccess:
    url: str
    username: str | None = None
    password: str | None = None


@dataclass
class DemoReport:
    created: int = 0
    hospitals: list[str] = field(default_factory=list)
    studies: list[str] = field(default_factory=list)
    images_missing: list[str] = field(default_factory=list)
    credentials: dict[str, str] = field(default_factory=dict)  # user -> password, when known

    def lines(self, *, with_credentials: bool = True) -> list[str]:
        """A short summary; `serve` prints the sign-ins last instead (with_credentials False)."""
        lines = [
            f"demo data: {self.created} resources created" if self.created else "demo data: already loaded"
        ]
        lines += [f"  {line}" for line in self.hospitals + self.studies]
        if self.images_missing:
            lines.append("  images missing (the FHIR data is complete without them):")
            lines += [f"    {line}" for line in self.images_missing]
        for user, password in self.credentials.items() if with_credentials else ():
            lines.append(f"  sign in to /app as {user} / {password}")
        return lines


def load_demo(
    services: Services, data_dir: Path, orthancs: Mapping[str, OrthancAccess] | None = None
) -> DemoReport:
    """`orthancs`: the Orthanc of each demo hospital, by legacy id (HOS-001…); hospitals without one keep
    their unaddressed Endpoint and their studies have no images."""
    report = DemoReport()
    report.created = _write_resources(services)
    report.credentials = _ensure_users(UserRegistry(services.connection.documents), data_dir)
    sync = sync_services(services)
    seal_passwords(sync)
    orthancs = orthancs or {}
    for row in rows()["hospitals"]:
        legacy_id, name = str(row["id"]), str(row["name"])
        access = orthancs.get(legacy_id)
        studies = [s for s in demo_studies() if s.hospital == legacy_id]
        if access is None:
            report.images_missing += [f"{s.legacy_id} ({name}): no Orthanc configured" for s in studies]
            continue
        hospital = _register(services, sync, legacy_id, name, access)
        try:
            version = _orthanc_version(hospital, services)
        except OrthancFailure as exc:
            report.hospitals.append(f"{name}: Orthanc at {access.url} not reachable ({exc.message})")
            report.images_missing += [f"{s.legacy_id} ({name}): Orthanc not reachable" for s in studies]
            continue
        report.hospitals.append(f"{name}: Orthanc {version} at {access.url}")
        for study in studies:
            report.studies.append(_ensure_images(services, sync, hospital, study, report))
        # One full pass from Orthanc's change feed: builds each uploaded study's ImagingStudy from what
        # Orthanc returns and records the hospital's sync cursor and last completed sync.
        # A running server's background sync of this hospital may hold its lease: wait for it.
        result = sync_hospital(sync, hospital, lease_wait=_LEASE_WAIT_SECONDS)
        if result.failure or result.study_errors:
            report.images_missing.append(f"{name}: sync {result.failure or '; '.join(result.study_errors)}")
    return report


def _write_resources(services: Services) -> int:
    mapped = map_legacy_database(
        rows(),
        modality_to_dcm=modality_lookup_from_terminology(services.terminology),
        national_id_system=services.settings.national_id_system,
    )
    created = 0
    for resource in mapped.resources:
        if services.repository.read(resource["resourceType"], resource["id"]) is not None:
            continue
        normalized, _ = services.rules.validate(resource, model_checked=True)
        services.repository.update(normalized, expected_version=None)
        created += 1
    return created


def _ensure_users(users: UserRegistry, data_dir: Path) -> dict[str, str]:
    """Creates the demo users once, with random passwords kept (0600) in the data dir for the next start."""
    path = data_dir / CREDENTIALS_FILE
    known: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    for username, (role, display) in DEMO_USERS.items():
        if users.get(username) is not None:
            continue
        known[username] = secrets.token_urlsafe(12)
        users.add(username, known[username], role, name=display)
    if known:
        data_dir.mkdir(parents=True, exist_ok=True)  # with an external MongoDB nothing else may have made it
        tmp = path.with_suffix(".tmp")
        descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            json.dump(known, out)
        os.replace(tmp, path)
    return {user: password for user, password in known.items() if user in DEMO_USERS}


def _register(
    services: Services, sync: SyncServices, legacy_id: str, name: str, access: OrthancAccess
) -> HospitalConnection:
    """Connects the demo hospital to its Orthanc: created the first time, its address and credentials
    updated later (local Orthancs get new ports at every start). The demo checks and reports reachability
    itself (an unreachable Orthanc still leaves complete FHIR data), so the registration saves anyway."""
    if sync.connections.by_identifier(legacy_id) is None:
        request = HospitalRequest(
            name=name,
            identifier=legacy_id,
            orthanc_url=access.url,
            orthanc_user=access.username,
            orthanc_password=access.password,
            national_id_issuers=(NATIONAL_ID_ISSUER,),
            allow_offline=True,
        )
        return create_hospital(
            sync.repository, sync.connections, sync.find_ids, services.settings, request
        ).connection
    changes = HospitalChanges(
        orthanc_url=access.url,
        orthanc_user=access.username or "",
        orthanc_password=access.password,
        allow_offline=True,
    )
    return update_hospital(
        sync.repository, sync.connections, services.settings, legacy_id, changes
    ).connection


def _orthanc_version(hospital: HospitalConnection, services: Services) -> str:
    with OrthancRest(hospital, services.settings) as rest:
        return str(rest.system().get("Version", "?"))


def _ensure_images(
    services: Services, sync: SyncServices, hospital: HospitalConnection, study: DemoStudy, report: DemoReport
) -> str:
    current = services.repository.read("ImagingStudy", study.fhir_id)
    resource = current.resource if current is not None and not current.deleted else None
    if resource is None:
        return f"{study.legacy_id}: ImagingStudy/{study.fhir_id} was deleted; not recreated"
    try:
        uid = _study_uid(resource)
        with OrthancRest(hospital, services.settings) as rest:
            if uid is not None and rest.lookup_study(uid) is not None:
                return f"{study.legacy_id}: images already in {hospital.name}"
        datasets = make_study(
            study.patient,
            study.series,
            description=study.description,
            accession=study.accession,
            started=study.started,
        )
        uploaded = upload_datasets(hospital, services.settings, datasets)
        uid = uploaded.study_uids[0]
        with OrthancRest(hospital, services.settings) as rest:
            orthanc_id = rest.lookup_study(uid)
    except OrthancFailure as exc:
        report.images_missing.append(f"{study.legacy_id} ({hospital.name}): {exc.message}")
        return f"{study.legacy_id}: upload failed"
    if uploaded.errors or orthanc_id is None:
        report.images_missing.append(f"{study.legacy_id} ({hospital.name}): {'; '.join(uploaded.errors)}")
        return f"{study.legacy_id}: upload incomplete"
    # So that the sync updates the demo's ImagingStudy (keeping its legacy identifier) instead of adding one.
    sync.studies.record(hospital.organization_id, orthanc_id, uid, study.fhir_id)
    stored = f"{uploaded.stored} instances uploaded to {hospital.name}"
    return f"{study.legacy_id}: {stored} -> ImagingStudy/{study.fhir_id}"


def _study_uid(resource: Mapping[str, Any]) -> str | None:
    for identifier in resource.get("identifier") or []:
        if identifier.get("system") == DICOM_UID_SYSTEM and identifier.get("value"):
            return study_uid_from_identifier(identifier["value"])
    return None
