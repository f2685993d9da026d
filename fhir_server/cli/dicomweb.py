"""Orthanc federation commands:

  fhir-server hospital add --data-dir D --name N --identifier HOS-… --orthanc-url URL [--orthanc-user U
                           --orthanc-password P] [--national-id-source issuer|patient-id]
                           [--national-id-issuer X]… [--offline]
                                                       (create only; prints the Organization id last)
  fhir-server hospital update ID --data-dir D [--name N] [--orthanc-url URL] [--orthanc-user U]
                           [--orthanc-password P] [--national-id-source S] [--national-id-issuer X]…
                           [--offline]                 (changes only the options given)
  fhir-server hospital list --data-dir D
  fhir-server sync --data-dir D [--hospital ID]…      (exit 0 when every pass completed)
  fhir-server upload --data-dir D --hospital H FILE|DIR…
  fhir-server doctor --data-dir D                      (exit 0 when every Orthanc is usable)

Like every command they attach to the data dir's database, shared with a running server. Endpoint addresses
use the base URL the running server recorded in the data dir (fhir_server.dicomweb.hospitals.addresses) unless
FHIR_PUBLIC_BASE_URL is set. `add` and `update` try the Orthanc first and save nothing when it does not
work with these settings, unless --offline; each writes an AuditEvent.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Never

import httpx
from tqdm import tqdm

from fhir_server.dicomweb.orthanc.connections import HospitalConnection
from fhir_server.settings import Settings
from fhir_server.storage.connection import connect

if TYPE_CHECKING:  # at run time imported by each command: they pull in the whole server
    from fhir_server.dicomweb.hospitals.registration import Registration
    from fhir_server.dicomweb.orthanc.probes import OrthancHealth
    from fhir_server.dicomweb.sync.runner import HospitalSyncResult, SyncServices
    from fhir_server.errors import FhirError

# The request fields of errors (OperationOutcome expression) as the options of these commands.
_OPTIONS = {
    "name": "--name",
    "identifier": "--identifier",
    "orthancUrl": "--orthanc-url",
    "orthancUser": "--orthanc-user",
    "orthancPassword": "--orthanc-password",
    "patientIdSystem": "--patient-id-system",
    "nationalIdIssuers": "--national-id-issuer",
    "nationalIdSource": "--national-id-source",
}
# A CLI sync waits this long for a pass of the same hospital (the server's background loop) to end.
_LEASE_WAIT_SECONDS = 300.0


@contextmanager
def _sync_services(settings: Settings) -> Iterator[SyncServices]:
    from fhir_server.app import build_services
    from fhir_server.dicomweb.runtime import seal_passwords, sync_services

    # One INFO line per HTTP request would bury the progress bar and the summary.
    for name in ("httpx", "dicomweb_client"):
        logging.getLogger(name).setLevel(logging.WARNING)
    connection = connect(settings, "cli")
    try:
        services = sync_services(build_services(settings, connection))
        seal_passwords(services)
        yield services
    finally:
        connection.close()


def _hospital(services: SyncServices, name: str) -> HospitalConnection | None:
    found = services.connections.find(name)
    if found is None:
        print(
            f"error: no hospital {name!r} (give its Organization id or identifier; see `hospital list`)",
            file=sys.stderr,
        )
    return found


# -- hospital add / update / list ----------------------------------------------------------------------------


def _hospital_add(args: argparse.Namespace, settings: Settings) -> int:
    from fhir_server.dicomweb.hospitals.addresses import with_server_base
    from fhir_server.dicomweb.hospitals.registration import HospitalRequest, create_hospital
    from fhir_server.errors import FhirError

    settings = with_server_base(settings)
    request = HospitalRequest(
        name=args.name,
        identifier=args.identifier,
        orthanc_url=args.orthanc_url,
        orthanc_user=args.orthanc_user,
        orthanc_password=args.orthanc_password,
        patient_id_system=args.patient_id_system,
        national_id_issuers=tuple(args.national_id_issuer or ()),
        national_id_source=args.national_id_source or "issuer",
        allow_offline=args.offline,
    )
    with _sync_services(settings) as services:
        try:
            registration = create_hospital(
                services.repository, services.connections, services.find_ids, settings, request
            )
        except FhirError as exc:
            return _error(exc)
        _audit(services, registration)
    _print_registration(registration)
    return 0


def _hospital_update(args: argparse.Namespace, settings: Settings) -> int:
    from fhir_server.dicomweb.hospitals.addresses import with_server_base
    from fhir_server.dicomweb.hospitals.registration import HospitalChanges, update_hospital
    from fhir_server.errors import FhirError

    settings = with_server_base(settings)
    issuers = args.national_id_issuer
    changes = HospitalChanges(
        name=args.name,
        orthanc_url=args.orthanc_url,
        orthanc_user=args.orthanc_user,
        orthanc_password=args.orthanc_password,
        patient_id_system=args.patient_id_system,
        national_id_issuers=() if args.no_national_id_issuers else (tuple(issuers) if issuers else None),
        national_id_source=args.national_id_source,
        allow_offline=args.offline,
    )
    with _sync_services(settings) as services:
        try:
            registration = update_hospital(
                services.repository, services.connections, settings, args.hospital, changes
            )
        except FhirError as exc:
            return _error(exc)
        _audit(services, registration)
    _print_registration(registration)
    return 0


def _error(exc: FhirError) -> int:
    options = [_OPTIONS.get(e, e) for e in exc.expression]
    where = f"{', '.join(options)}: " if options else ""
    print(f"error: {where}{exc.diagnostics}", file=sys.stderr)
    return 1 if exc.status == 409 else 2


def _print_registration(registration: Registration) -> None:
    connection = registration.connection
    check = registration.check
    if check is not None and not check.ok:
        print(f"warning: saved without a working connection (--offline): {check.message}", file=sys.stderr)
    print(f"Organization/{connection.organization_id}: {registration.organization}")
    for reference, outcome in registration.endpoints.items():
        print(f"{reference}: {outcome}")
    source = connection.national_id_source
    issuers = ", ".join(connection.national_id_issuers) or "none"
    print(f"national IDs: from {source} (issuers: {issuers})")
    print(connection.organization_id)


def _audit(services: SyncServices, registration: Registration) -> None:
    """The AuditEvent of a change made here, as the admin API writes one (the OS user is the agent)."""
    from fhir_server.audit.log import AuditLog, Who

    audit = AuditLog(services.connection.documents, background=False)
    audit.record(registration.audit_record(Who(_os_user(), client_id="cli", role="admin")))


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def _hospital_list(args: argparse.Namespace, settings: Settings) -> int:
    with _sync_services(settings) as services:
        hospitals = list(services.connections.all())
    for hospital in hospitals:
        print(
            f"{hospital.identifier}\tOrganization/{hospital.organization_id}\t{hospital.name}\t"
            f"{hospital.orthanc_url}\tnational IDs from {hospital.national_id_source}"
        )
    return 0


# -- sync --------------------------------------------------------------------------------------------------


class _Bars:
    """One stderr progress bar per hospital (counts studies; total known on a first, full pass)."""

    def __init__(self) -> None:
        # tqdm's type parameter is what it iterates; a bar advanced by hand iterates nothing.
        self._bar: tqdm[Never] | None = None

    def start(self, hospital: HospitalConnection, total: int | None) -> None:
        self._bar = tqdm(
            total=total, desc=hospital.identifier, unit="study", file=sys.stderr, mininterval=0.5
        )

    def advance(self, hospital: HospitalConnection) -> None:
        if self._bar is not None:
            self._bar.update(1)

    def finish(self, hospital: HospitalConnection) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _sync(args: argparse.Namespace, settings: Settings) -> int:
    from fhir_server.dicomweb.sync.runner import sync_hospitals

    with _sync_services(settings) as services:
        hospitals = None
        if args.hospital:
            chosen = [_hospital(services, name) for name in args.hospital]
            if any(h is None for h in chosen):
                return 2
            hospitals = [h for h in chosen if h is not None]
        results = sync_hospitals(services, hospitals, progress=_Bars(), lease_wait=_LEASE_WAIT_SECONDS)
    if not results:
        print("no hospitals registered (see `hospital add`)")
    for result in results:
        _print_result(result)
    failed = [r for r in results if not r.completed]
    for result in failed:
        print(
            f"error: {result.name}: {result.failure or result.skipped}; the next sync resumes",
            file=sys.stderr,
        )
    return 1 if failed else 0


def _print_result(result: HospitalSyncResult) -> None:
    print(result.summary_line())
    for patient in result.created_patients:
        print(f"  new patient from DICOM header (no match): {patient}")
    for identifier in result.ambiguous_patients:
        print(f"  ambiguous patient identifier (matches several Patients): {identifier}")
    for error in result.study_errors:
        print(f"  not mapped: {error}")


# -- upload ------------------------------------------------------------------------------------------------


def _upload(args: argparse.Namespace, settings: Settings) -> int:
    from fhir_server.dicomweb.orthanc.errors import OrthancFailure
    from fhir_server.dicomweb.orthanc.upload import dicom_files, upload
    from fhir_server.dicomweb.sync.runner import sync_study_uids

    files = dicom_files(args.files)
    if not files:
        print("error: no files to upload", file=sys.stderr)
        return 2
    with _sync_services(settings) as services:
        hospital = _hospital(services, args.hospital)
        if hospital is None:
            return 2
        # The bar counts files Orthanc has answered for (not files read), so it reaches 100% only when the
        # upload did; a failed upload erases it before saying why.
        with tqdm(
            total=len(files), desc=f"STOW-RS {hospital.identifier}", unit="file", file=sys.stderr
        ) as bar:
            try:
                uploaded = upload(hospital, settings, files, on_stored=bar.update)
            except OrthancFailure as exc:
                bar.leave = False
                bar.close()
                print(f"error: upload failed, nothing was synced: {exc.message}", file=sys.stderr)
                return 1
        print(f"{uploaded.stored} instances stored in the PACS of {hospital.name}")
        for error in uploaded.errors:
            print(f"  {error}", file=sys.stderr)
        result = sync_study_uids(services, hospital, uploaded.study_uids)
        _print_result(result)
        for uid in uploaded.study_uids:
            synced = services.studies.by_uid(hospital.organization_id, uid)
            if synced is not None:
                print(f"ImagingStudy/{synced.fhir_id}\t{uid}")
    if result.failure:
        print(f"error: {result.failure}; run `sync` later", file=sys.stderr)
    return 0 if not uploaded.errors and result.completed and not result.study_errors else 1


# -- doctor ------------------------------------------------------------------------------------------------


def _doctor(args: argparse.Namespace, settings: Settings) -> int:
    from fhir_server.dicomweb.hospitals.addresses import with_server_base
    from fhir_server.dicomweb.orthanc.probes import check_all
    from fhir_server.dicomweb.orthanc.rest import timeouts

    settings = with_server_base(settings)

    async def checks(hospitals: list[HospitalConnection]) -> list[OrthancHealth]:
        async with httpx.AsyncClient(timeout=timeouts(settings)) as http:
            return await check_all(http, hospitals)

    with _sync_services(settings) as services:
        hospitals = list(services.connections.all())
        if not hospitals:
            print("no hospitals registered (see `hospital add`)")
        results = asyncio.run(checks(hospitals))
        for check in results:
            _print_check(check)
            _print_warnings(services, settings, check.hospital)
    return 0 if all(check.status == "up" for check in results) else 1


def _print_check(check: OrthancHealth) -> None:
    hospital = check.hospital
    head = f"{hospital.identifier} {hospital.name} (Organization/{hospital.organization_id})"
    if check.status == "up":
        print(f"OK    {head}: Orthanc {check.version}, {check.latency_ms:.0f} ms, DICOMweb plugin loaded")
    else:
        print(f"FAIL  {head}: {check.error}")


def _print_warnings(services: SyncServices, settings: Settings, hospital: HospitalConnection) -> None:
    from fhir_server.dicomweb.hospitals.registration import hospital_endpoints

    for endpoint in hospital_endpoints(hospital, settings):
        stored = services.repository.read("Endpoint", endpoint["id"])
        address = (stored.resource or {}).get("address") if stored is not None else None
        if address != endpoint["address"]:
            print(
                f"WARN  Endpoint/{endpoint['id']}.address is {address!r}, not {endpoint['address']!r} "
                "(the server rewrites its own old addresses when it starts; else "
                f"`hospital update {hospital.identifier}`)"
            )
    state = services.state.get(hospital.organization_id)
    if state.last_error:
        print(f"WARN  the last sync of {hospital.identifier} failed: {state.last_error}")


# -- registration ------------------------------------------------------------------------------------------


def _hospital_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--orthanc-user", help="user name for Orthanc (update: an empty one removes it)")
    parser.add_argument("--orthanc-password")
    parser.add_argument("--patient-id-system", help="Identifier.system of this PACS's PatientIDs (a URI)")
    parser.add_argument(
        "--national-id-source",
        choices=["issuer", "patient-id"],
        help="where this PACS keeps national IDs: a PatientID with one of the national-ID issuers "
        "(issuer, the default), or the PatientID itself (patient-id)",
    )
    parser.add_argument(
        "--national-id-issuer",
        action="append",
        help="Issuer of Patient ID text this PACS uses for national IDs (repeatable; update: replaces them)",
    )
    parser.add_argument(
        "--offline",
        action="store_true",
        help="save even if the Orthanc cannot be reached or refuses the credentials (e.g. down for "
        "maintenance)",
    )


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--data-dir", type=Path, help="data directory (env FHIR_DATA_DIR, default ./data)"
        )

    hospital = sub.add_parser("hospital", help="register hospitals and their Orthanc PACS")
    actions = hospital.add_subparsers(dest="hospital_command", required=True)
    add = actions.add_parser(
        "add", help="register a new hospital (Organization, Endpoints, Orthanc access); never changes one"
    )
    common(add)
    add.add_argument("--name", required=True)
    add.add_argument("--identifier", required=True, help="the hospital's identifier, e.g. HOS-001")
    add.add_argument("--orthanc-url", required=True, help="Orthanc's base URL, e.g. http://pacs:8042")
    _hospital_options(add)
    add.set_defaults(func=_hospital_add)
    update = actions.add_parser(
        "update", help="change a registered hospital: only the options given (a password is kept if omitted)"
    )
    common(update)
    update.add_argument("hospital", help="the hospital's identifier or Organization id")
    update.add_argument("--name")
    update.add_argument("--orthanc-url", help="Orthanc's base URL")
    _hospital_options(update)
    update.add_argument(
        "--no-national-id-issuers", action="store_true", help="remove every national-ID issuer"
    )
    update.set_defaults(func=_hospital_update)
    listing = actions.add_parser("list", help="registered hospitals (never their passwords)")
    common(listing)
    listing.set_defaults(func=_hospital_list)

    sync = sub.add_parser("sync", help="one sync pass: each hospital's Orthanc studies -> ImagingStudy")
    common(sync)
    sync.add_argument(
        "--hospital", action="append", help="only this hospital (Organization id or identifier)"
    )
    sync.set_defaults(func=_sync)

    upload = sub.add_parser(
        "upload", help="send DICOM files to a hospital's Orthanc (STOW-RS), then sync them"
    )
    common(upload)
    upload.add_argument("--hospital", required=True, help="Organization id or identifier")
    upload.add_argument("files", nargs="+", type=Path, help="DICOM files or directories")
    upload.set_defaults(func=_upload)

    doctor = sub.add_parser("doctor", help="check every hospital's Orthanc (reachable, version, DICOMweb)")
    common(doctor)
    doctor.set_defaults(func=_doctor)
