"""Registering a hospital: its Organization, the DICOMweb Endpoints it manages, and its Orthanc connection.

R4 Endpoint.connectionType is a single Coding, so WADO-RS and QIDO-RS are two Endpoints, each with
`managingOrganization` = the hospital (spec: shared/specs/imagingstudy-dicom.md). No STOW-RS Endpoint is
published: the proxy does not accept uploads (upload goes through `fhir-server upload`).

Ids line up with the legacy import (`HOS-001` -> Organization/legacy-hos-001 and
Endpoint/legacy-hos-001-dicomweb), so registering a hospital the import created updates it, not a copy.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from fhir_server.dicomweb import ids
from fhir_server.dicomweb.addresses import endpoint_address
from fhir_server.dicomweb.connections import ConnectionStore, HospitalConnection, normalize_orthanc_url
from fhir_server.dicomweb.lookup import FindIds, identifier_query
from fhir_server.dicomweb.writes import WriteOutcome, content, write_if_changed
from fhir_server.errors import FhirError, Problem
from fhir_server.settings import Settings
from fhir_server.storage.mongo import MongoRepository
from mappers.endpoint import dicomweb_endpoints
from mappers.legacy import hospital_endpoint_id
from mappers.legacy_values import legacy_fhir_id
from terminology.systems import LEGACY_HOSPITAL_ID_SYSTEM, V2_0203_SYSTEM

_MAX_ID = 64
_QIDO_SUFFIX = "-qido"
_ORGANIZATION_ID_TYPE = {"coding": [{"system": V2_0203_SYSTEM, "code": "XX"}]}


@dataclass(frozen=True)
class HospitalRequest:
    name: str
    identifier: str
    orthanc_url: str
    orthanc_user: str | None = None
    orthanc_password: str | None = None
    patient_id_system: str | None = None
    national_id_issuers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Registration:
    connection: HospitalConnection
    organization: WriteOutcome
    endpoints: dict[str, WriteOutcome]

    def to_json(self) -> dict[str, Any]:
        return {
            **self.connection.public_json(),
            "outcome": {"organization": self.organization, **self.endpoints},
        }


def register_hospital(
    repository: MongoRepository,
    store: ConnectionStore,
    find_ids: FindIds,
    settings: Settings,
    request: HospitalRequest,
) -> Registration:
    """Create or update the hospital. Credentials omitted on an update keep the stored ones."""
    name, identifier = request.name.strip(), request.identifier.strip()
    _check(name, identifier)
    try:
        orthanc_url = normalize_orthanc_url(request.orthanc_url)
    except ValueError as exc:
        raise FhirError(Problem.VALUE, str(exc), ["orthanc_url"]) from None
    previous = store.by_identifier(identifier)
    org_id = previous.organization_id if previous else _organization_id(repository, find_ids, identifier)
    wado_id = _endpoint_id(org_id)
    connection = HospitalConnection(
        organization_id=org_id,
        identifier=identifier,
        name=name,
        orthanc_url=orthanc_url,
        wado_endpoint_id=wado_id,
        qido_endpoint_id=wado_id + _QIDO_SUFFIX,
        patient_id_system=request.patient_id_system
        or (previous.patient_id_system if previous else ids.hospital_patient_id_system(identifier)),
        username=request.orthanc_user,
        password=request.orthanc_password,
        national_id_issuers=request.national_id_issuers,
    )
    if previous is not None and request.orthanc_user is None and request.orthanc_password is None:
        connection = replace(connection, username=previous.username, password=previous.password)
    organization = _organization(repository, connection)
    org_outcome, _ = write_if_changed(repository, organization)
    endpoint_outcomes = {
        f"Endpoint/{endpoint['id']}": write_if_changed(repository, endpoint)[0]
        for endpoint in hospital_endpoints(connection, settings)
    }
    store.save(connection)
    return Registration(connection, org_outcome, endpoint_outcomes)


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


def _check(name: str, identifier: str) -> None:
    if not name:
        raise FhirError(Problem.REQUIRED, "The hospital needs a name", ["name"])
    if not identifier or any(c.isspace() for c in identifier) or len(identifier) > _MAX_ID:
        raise FhirError(
            Problem.VALUE,
            f"The hospital identifier must be 1-{_MAX_ID} characters without spaces",
            ["identifier"],
        )


def _organization_id(repository: MongoRepository, find_ids: FindIds, identifier: str) -> str:
    found = find_ids(repository, "Organization", identifier_query(LEGACY_HOSPITAL_ID_SYSTEM, identifier))
    if len(found) > 1:
        raise FhirError(
            Problem.CONFLICT,
            f"{len(found)} Organizations have identifier {identifier} ({', '.join(found)}); merge them first",
        )
    if found:
        return found[0]
    return legacy_fhir_id(identifier) or ids.organization_id(identifier)


def _endpoint_id(org_id: str) -> str:
    endpoint_id = hospital_endpoint_id(org_id)
    if len(endpoint_id) + len(_QIDO_SUFFIX) > _MAX_ID:
        return ids.endpoint_id(org_id)
    return endpoint_id


def _organization(repository: MongoRepository, connection: HospitalConnection) -> dict[str, Any]:
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
