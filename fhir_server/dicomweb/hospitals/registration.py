"""Registering and changing a hospital: its Organization, the DICOMweb Endpoints it manages, and its Orthanc
connection.

R4 Endpoint.connectionType is a single Coding, so WADO-RS and QIDO-RS are two Endpoints, each with
`managingOrganization` = the hospital (spec: shared/specs/imagingstudy-dicom.md). No STOW-RS Endpoint is
published: the proxy does not accept uploads (upload goes through `fhir-server upload`).

Create and update are different operations, so that a typo in an identifier can never take over another
hospital: `create_hospital` refuses an identifier that is registered already (409), `update_hospital` changes
only the fields it is given — an absent or empty password keeps the stored one, national-ID issuers and the
identity rule are kept unless sent. Before anything is saved the Orthanc URL and credentials are tried
(`check_connection`): an unreachable PACS, refused credentials or a missing DICOMweb plugin is an error
naming the field, unless the caller says "save anyway" (`allow_offline`, for a PACS down for maintenance).

Ids line up with the legacy import (`HOS-001` -> Organization/legacy-hos-001 and
Endpoint/legacy-hos-001-dicomweb), so creating a hospital the import made (an Organization with that
identifier but no Orthanc connection yet) connects that Organization instead of making a copy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from fhir_server.audit.log import AuditRecord, Who
from fhir_server.dicomweb import ids
from fhir_server.dicomweb.hospitals.addresses import endpoint_address, is_proxy_address
from fhir_server.dicomweb.orthanc.connections import (
    NATIONAL_ID_SOURCES,
    ConnectionStore,
    HospitalConnection,
    NationalIdSource,
    normalize_orthanc_url,
)
from fhir_server.dicomweb.orthanc.probes import DICOMWEB_PLUGIN, ping_timeout
from fhir_server.dicomweb.sync.writes import WriteOutcome, write_if_changed
from fhir_server.errors import FhirError, Problem
from fhir_server.interactions.lookup import FindIds, identifier_query
from fhir_server.settings import Settings
from fhir_server.storage.errors import DuplicateKey
from fhir_server.storage.repository import ResourceStore
from mappers.endpoint import REQUIRES_ACCESS_TOKEN, dicomweb_endpoints, requires_access_token
from mappers.fhir_json import content
from mappers.legacy import hospital_endpoint_id
from mappers.legacy_values import legacy_fhir_id
from terminology.systems import LEGACY_HOSPITAL_ID_SYSTEM, V2_0203_SYSTEM

_MAX_ID = 64
_MAX_ISSUER = 64  # Issuer of Patient ID (0010,0021) is a DICOM LO: at most 64 characters
_QIDO_SUFFIX = "-qido"
_ORGANIZATION_ID_TYPE = {"coding": [{"system": V2_0203_SYSTEM, "code": "XX"}]}
# The connection check is a ping: short, whatever the sync's own timeouts.
_CHECK_CONNECT_SECONDS = 5.0
_CHECK_READ_SECONDS = 10.0
# What an audit event may say about a hospital: its public view, never a credential.
_AUDITED = ("name", "orthancUrl", "orthancUser", "patientIdSystem", "nationalIdIssuers", "nationalIdSource")


@dataclass(frozen=True)
class HospitalRequest:
    """A new hospital (`hospital add`, `POST /admin/hospitals`)."""

    name: str
    identifier: str
    orthanc_url: str
    orthanc_user: str | None = None
    orthanc_password: str | None = None
    patient_id_system: str | None = None
    national_id_issuers: tuple[str, ...] = ()
    national_id_source: str = "issuer"
    allow_offline: bool = False


@dataclass(frozen=True)
class HospitalChanges:
    """Changes to a registered hospital (`hospital update`, `PATCH /admin/hospitals/{id}`): None keeps the
    stored value. An empty password keeps the stored one too (the dashboard's "leave empty to keep"); an
    empty user name removes the credentials (an Orthanc without authentication)."""

    name: str | None = None
    orthanc_url: str | None = None
    orthanc_user: str | None = None
    orthanc_password: str | None = None
    patient_id_system: str | None = None
    national_id_issuers: tuple[str, ...] | None = None
    national_id_source: str | None = None
    allow_offline: bool = False


@dataclass(frozen=True)
class ConnectionCheck:
    """Whether the Orthanc answered with these credentials and has the DICOMweb plugin; when not, which
    request field is wrong (`expression`, as in the admin API's JSON)."""

    ok: bool
    message: str | None = None
    expression: tuple[str, ...] = ()
    version: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            **({"version": self.version} if self.version else {}),
            **({"message": self.message, "expression": list(self.expression)} if not self.ok else {}),
        }


@dataclass(frozen=True)
class Registration:
    connection: HospitalConnection
    organization: WriteOutcome
    endpoints: dict[str, WriteOutcome]
    previous: HospitalConnection | None = None  # None: created
    check: ConnectionCheck | None = None  # None: not checked (nothing about the connection changed)
    password_changed: bool = field(default=False)

    @property
    def created(self) -> bool:
        return self.previous is None

    def to_json(self) -> dict[str, Any]:
        return {
            **self.connection.public_json(),
            "outcome": {"organization": self.organization, **self.endpoints},
            **({"connectionCheck": self.check.to_json()} if self.check is not None else {}),
        }

    def audit_record(self, who: Who) -> AuditRecord:
        """The AuditEvent of this change: what the hospital looked like before and after, never a password
        (only whether it changed)."""
        after = _audited(self.connection)
        before = _audited(self.previous) if self.previous is not None else None
        if before is not None:
            changed = [k for k in _AUDITED if before.get(k) != after.get(k)]
            before = {k: before[k] for k in changed}
            after = {k: after[k] for k in changed}
        detail: dict[str, Any] = {"hospital": self.connection.identifier, "before": before, "after": after}
        if self.password_changed:
            detail["passwordChanged"] = True
        if self.check is not None and not self.check.ok:
            detail["savedWithoutWorkingConnection"] = self.check.message
        verb = "registered" if self.created else "changed"
        return AuditRecord(
            category="rest",
            subtype="create" if self.created else "update",
            action="C" if self.created else "U",
            outcome="0",
            who=who,
            entities=(self.connection.organization_reference, *self.endpoints),
            description=f"hospital {verb}: {json.dumps(detail, separators=(',', ':'))}",
        )


def create_hospital(
    repository: ResourceStore,
    store: ConnectionStore,
    find_ids: FindIds,
    settings: Settings,
    request: HospitalRequest,
) -> Registration:
    """A new hospital; 409 if its identifier is registered already (change that one with update)."""
    name, identifier = request.name.strip(), request.identifier.strip()
    _check_name(name)
    _check_identifier(identifier)
    orthanc_url = _orthanc_url(request.orthanc_url)
    if request.orthanc_password and not request.orthanc_user:
        raise FhirError(Problem.REQUIRED, "A password needs an Orthanc user name", ["orthancUser"])
    existing = store.by_identifier(identifier)
    if existing is not None:
        raise _exists(existing)
    org_id = _organization_id(repository, find_ids, identifier)
    taken = store.get(org_id)
    if taken is not None:  # another identifier maps to the same Organization (ids are derived from them)
        raise _exists(taken)
    wado_id = _endpoint_id(org_id)
    connection = HospitalConnection(
        organization_id=org_id,
        identifier=identifier,
        name=name,
        orthanc_url=orthanc_url,
        wado_endpoint_id=wado_id,
        qido_endpoint_id=wado_id + _QIDO_SUFFIX,
        patient_id_system=_patient_id_system(request.patient_id_system)
        or ids.hospital_patient_id_system(identifier),
        username=request.orthanc_user or None,
        password=request.orthanc_password or None,
        national_id_issuers=_issuers(request.national_id_issuers),
        national_id_source=_source(request.national_id_source),
    )
    check = _checked(connection, settings, request.allow_offline)
    try:
        store.insert(connection)
    except DuplicateKey:  # registered by someone else a moment ago
        raise _exists(store.by_identifier(identifier) or connection) from None
    organization, endpoints = _write_resources(repository, connection, settings)
    return Registration(
        connection, organization, endpoints, None, check, password_changed=bool(connection.password)
    )


def update_hospital(
    repository: ResourceStore,
    store: ConnectionStore,
    settings: Settings,
    hospital: str,
    changes: HospitalChanges,
) -> Registration:
    """Change the fields given; `hospital` is an Organization id, `Organization/<id>` or the identifier."""
    previous = store.find(hospital)
    if previous is None:
        raise FhirError(Problem.NOT_FOUND, f"No registered hospital {hospital!r}")
    connection = previous
    if changes.name is not None:
        name = changes.name.strip()
        _check_name(name)
        connection = replace(connection, name=name)
    if changes.orthanc_url is not None:
        connection = replace(connection, orthanc_url=_orthanc_url(changes.orthanc_url))
    if changes.orthanc_user is not None:
        user = changes.orthanc_user.strip() or None
        # Another user name with the stored password makes no sense: the new user's password is needed.
        password = previous.password if user == previous.username else None
        connection = replace(connection, username=user, password=password)
    if changes.orthanc_password:
        if connection.username is None:
            raise FhirError(Problem.REQUIRED, "A password needs an Orthanc user name", ["orthancUser"])
        connection = replace(connection, password=changes.orthanc_password)
    elif connection.username is not None and connection.username != previous.username:
        raise FhirError(
            Problem.REQUIRED,
            f"Give the password of Orthanc user {connection.username!r}",
            ["orthancPassword"],
        )
    if changes.patient_id_system is not None:
        system = _patient_id_system(changes.patient_id_system)
        connection = replace(connection, patient_id_system=system or previous.patient_id_system)
    if changes.national_id_issuers is not None:
        connection = replace(connection, national_id_issuers=_issuers(changes.national_id_issuers))
    if changes.national_id_source is not None:
        connection = replace(connection, national_id_source=_source(changes.national_id_source))
    reaches_orthanc = (connection.orthanc_url, connection.username, connection.password)
    check = None
    if reaches_orthanc != (previous.orthanc_url, previous.username, previous.password):
        check = _checked(connection, settings, changes.allow_offline)
    store.save(connection)
    organization, endpoints = _write_resources(repository, connection, settings)
    return Registration(
        connection,
        organization,
        endpoints,
        previous,
        check,
        password_changed=connection.password != previous.password,
    )


def hospital_endpoints(connection: HospitalConnection, settings: Settings) -> list[dict[str, Any]]:
    """The WADO-RS and QIDO-RS Endpoints, each addressed at our proxy under its own id."""
    wanted = {"dicom-wado-rs": connection.wado_endpoint_id, "dicom-qido-rs": connection.qido_endpoint_id}
    endpoints = []
    for code, endpoint_id in wanted.items():
        (endpoint,) = [
            e
            for e in dicomweb_endpoints(
                connection.organization_reference,
                endpoint_address(settings, endpoint_id),
                name=f"{connection.name} PACS",
            )
            if e["connectionType"]["code"] == code
        ]
        endpoint["managingOrganization"]["display"] = connection.name
        endpoints.append({"resourceType": "Endpoint", "id": endpoint_id, **endpoint})
    return endpoints


def check_connection(connection: HospitalConnection, settings: Settings) -> ConnectionCheck:
    """Ask the Orthanc for `/system` and `/plugins` with the connection's credentials, now."""
    timeout = ping_timeout(settings, _CHECK_READ_SECONDS, _CHECK_CONNECT_SECONDS)
    url = connection.orthanc_url
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False, auth=connection.auth) as http:
            system = http.get(f"{url}/system")
            if system.status_code in (401, 403):
                return _refused(connection, system.status_code)
            if system.status_code != 200:
                return ConnectionCheck(
                    False,
                    f"{url} answered HTTP {system.status_code} where Orthanc answers /system: is this the "
                    "address of the hospital's Orthanc?",
                    ("orthancUrl",),
                )
            version = _orthanc_version(system)
            if version is None:
                return ConnectionCheck(False, f"{url} does not answer like Orthanc", ("orthancUrl",))
            plugins = http.get(f"{url}/plugins")
            if plugins.status_code != 200 or DICOMWEB_PLUGIN not in _json_list(plugins):
                return ConnectionCheck(
                    False,
                    f"The Orthanc at {url} (version {version}) has no DICOMweb plugin loaded; install and "
                    "enable it (Debian: orthanc-dicomweb), the server reaches images through it",
                    ("orthancUrl",),
                    version,
                )
    except httpx.TimeoutException as exc:
        what = "accept a connection" if isinstance(exc, httpx.ConnectTimeout) else "answer"
        return ConnectionCheck(False, f"The Orthanc at {url} did not {what} in time", ("orthancUrl",))
    except httpx.TransportError as exc:
        return ConnectionCheck(
            False, f"The Orthanc at {url} is not reachable ({type(exc).__name__})", ("orthancUrl",)
        )
    return ConnectionCheck(True, version=version)


def _checked(connection: HospitalConnection, settings: Settings, allow_offline: bool) -> ConnectionCheck:
    check = check_connection(connection, settings)
    if not check.ok and not allow_offline:
        raise FhirError(
            Problem.UNPROCESSABLE,
            f"{check.message}. Nothing was saved; to save anyway (a PACS down for maintenance) send "
            '"allowOffline": true (CLI: --offline)',
            check.expression,
        )
    return check


def _refused(connection: HospitalConnection, status: int) -> ConnectionCheck:
    if connection.username is None:
        return ConnectionCheck(
            False,
            f"The Orthanc at {connection.orthanc_url} needs a user name and password (HTTP {status})",
            ("orthancUser",),
        )
    return ConnectionCheck(
        False,
        f"The Orthanc at {connection.orthanc_url} refused user {connection.username!r} with this password "
        f"(HTTP {status})",
        ("orthancPassword",),
    )


def _orthanc_version(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    version = body.get("Version") if isinstance(body, dict) else None
    return str(version) if version else None


def _json_list(response: httpx.Response) -> list[Any]:
    try:
        body = response.json()
    except ValueError:
        return []
    return body if isinstance(body, list) else []


def _write_resources(
    repository: ResourceStore, connection: HospitalConnection, settings: Settings
) -> tuple[WriteOutcome, dict[str, WriteOutcome]]:
    org_outcome, _ = write_if_changed(repository, _organization(repository, connection))
    endpoint_outcomes = {
        f"Endpoint/{endpoint['id']}": write_if_changed(repository, endpoint)[0]
        for endpoint in hospital_endpoints(connection, settings)
    }
    return org_outcome, endpoint_outcomes


def _exists(existing: HospitalConnection) -> FhirError:
    return FhirError(
        Problem.CONFLICT,
        f"Hospital {existing.identifier} is registered already: {existing.name} "
        f"({existing.organization_reference}, Orthanc {existing.orthanc_url}). Nothing was changed; to "
        f"change it use PATCH /admin/hospitals/{existing.organization_id} "
        f"(CLI: fhir-server hospital update {existing.identifier})",
        ["identifier"],
    )


def _audited(connection: HospitalConnection) -> dict[str, Any]:
    public = connection.public_json()
    return {key: public[key] for key in _AUDITED}


def _check_name(name: str) -> None:
    if not name:
        raise FhirError(Problem.REQUIRED, "The hospital needs a name", ["name"])


def _check_identifier(identifier: str) -> None:
    if not identifier or any(c.isspace() for c in identifier) or len(identifier) > _MAX_ID:
        raise FhirError(
            Problem.VALUE,
            f"The hospital identifier must be 1-{_MAX_ID} characters without spaces",
            ["identifier"],
        )


def _orthanc_url(url: str) -> str:
    try:
        return normalize_orthanc_url(url)
    except ValueError as exc:
        raise FhirError(Problem.VALUE, str(exc), ["orthancUrl"]) from None


def _patient_id_system(system: str | None) -> str | None:
    if system is None or not system.strip():
        return None
    system = system.strip()
    if ":" not in system or any(c.isspace() for c in system):
        raise FhirError(
            Problem.VALUE, f"The patient ID system must be a URI, not {system!r}", ["patientIdSystem"]
        )
    return system


def _issuers(issuers: tuple[str, ...]) -> tuple[str, ...]:
    cleaned = tuple(dict.fromkeys(i.strip() for i in issuers if i.strip()))
    for issuer in cleaned:
        if len(issuer) > _MAX_ISSUER or "\\" in issuer:
            raise FhirError(
                Problem.VALUE,
                f"An Issuer of Patient ID is at most {_MAX_ISSUER} characters, without a backslash: "
                f"{issuer!r}",
                ["nationalIdIssuers"],
            )
    return cleaned


def _source(source: str) -> NationalIdSource:
    if source == "issuer":
        return "issuer"
    if source == "patient-id":
        return "patient-id"
    raise FhirError(
        Problem.VALUE,
        f"nationalIdSource must be one of {', '.join(NATIONAL_ID_SOURCES)}, not {source!r}",
        ["nationalIdSource"],
    )


def _organization_id(repository: ResourceStore, find_ids: FindIds, identifier: str) -> str:
    found = find_ids(repository, "Organization", identifier_query(LEGACY_HOSPITAL_ID_SYSTEM, identifier))
    if len(found) > 1:
        raise FhirError(
            Problem.CONFLICT,
            f"{len(found)} Organizations have identifier {identifier} ({', '.join(found)}); merge them first",
            ["identifier"],
        )
    if found:
        return found[0]
    return legacy_fhir_id(identifier) or ids.organization_id(identifier)


def _endpoint_id(org_id: str) -> str:
    endpoint_id = hospital_endpoint_id(org_id)
    if len(endpoint_id) + len(_QIDO_SUFFIX) > _MAX_ID:
        return ids.endpoint_id(org_id)
    return endpoint_id


def _organization(repository: ResourceStore, connection: HospitalConnection) -> dict[str, Any]:
    """The stored Organization (as the legacy import or a client left it) with name, identifier and
    Endpoints ensured; a new one otherwise."""
    current = repository.read("Organization", connection.organization_id)
    org: dict[str, Any] = (
        content(current.resource)
        if current is not None and not current.deleted and current.resource is not None
        else {"resourceType": "Organization", "id": connection.organization_id, "active": True}
    )
    org["name"] = connection.name
    identifiers = list(org.get("identifier") or [])
    if not any(
        i.get("system") == LEGACY_HOSPITAL_ID_SYSTEM and i.get("value") == connection.identifier
        for i in identifiers
    ):
        identifiers.append(
            {
                "type": _ORGANIZATION_ID_TYPE,
                "system": LEGACY_HOSPITAL_ID_SYSTEM,
                "value": connection.identifier,
            }
        )
    org["identifier"] = identifiers
    references = [e for e in org.get("endpoint") or [] if isinstance(e, dict)]
    present = {e.get("reference") for e in references}
    references += [
        {"reference": f"Endpoint/{i}"} for i in connection.endpoint_ids if f"Endpoint/{i}" not in present
    ]
    org["endpoint"] = references
    return org


def rewrite_endpoint_addresses(
    repository: ResourceStore, store: ConnectionStore, settings: Settings
) -> list[tuple[str, str, str]]:
    """At start-up: the registered hospitals' Endpoints whose address is our proxy path under another base
    (the server moved to another port or public URL, or an old CLI wrote its default port) get this
    server's address, one new version each. Returns (Endpoint id, old, new) of each rewrite."""
    rewritten = []
    for connection in store.all():
        for endpoint_id in connection.endpoint_ids:
            current = repository.read("Endpoint", endpoint_id)
            if current is None or current.deleted or current.resource is None:
                continue
            address = current.resource.get("address")
            wanted = endpoint_address(settings, endpoint_id)
            if not is_proxy_address(address, endpoint_id):
                continue
            resource = content(current.resource)
            resource["address"] = wanted
            if endpoint_id == connection.wado_endpoint_id:
                # Endpoints written before SMART Imaging Access support get its extension.
                others = [e for e in resource.get("extension", []) if e.get("url") != REQUIRES_ACCESS_TOKEN]
                resource["extension"] = [requires_access_token(), *others]
            outcome, _ = write_if_changed(repository, resource)
            if outcome != "unchanged" and address != wanted:
                rewritten.append((endpoint_id, str(address), wanted))
    return rewritten
