"""Where each hospital's Orthanc is and how to log in to it: the Mongo collection `hospital_connections`.

Credentials are kept here and never in a FHIR resource: every client may read an Endpoint, and R4 says
Endpoint.header is for non-secret routing data (https://hl7.org/fhir/R4/endpoint.html). No API returns a
password; `public_json` is the only view of a connection that leaves the server. Passwords are stored sealed
under the server's master key (fhir_server.master_key: a file in the data dir, never in the database), so a
database dump or backup alone does not open any hospital's PACS.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, get_args
from urllib.parse import urlsplit, urlunsplit

from fhir_server.master_key import MasterKey
from fhir_server.storage.documents import ASCENDING, Documents
from fhir_server.type_aliases import Document

COLLECTION = "hospital_connections"

# Orthanc's DICOMweb plugin default root (configuration "DicomWeb.Root").
DICOMWEB_ROOT = "/dicom-web"


# How sync finds a patient's national ID in this hospital's DICOM: "issuer" = a PatientID whose Issuer of
# Patient ID is one of `national_id_issuers`; "patient-id" = the hospital puts the national ID in PatientID.
NationalIdSource = Literal["issuer", "patient-id"]
NATIONAL_ID_SOURCES: tuple[str, ...] = get_args(NationalIdSource)


@dataclass(frozen=True)
class HospitalConnection:
    organization_id: str
    identifier: str
    name: str
    orthanc_url: str  # Orthanc's REST root, e.g. http://pacs:8042, without a trailing slash
    wado_endpoint_id: str
    qido_endpoint_id: str
    patient_id_system: str  # Identifier.system of this hospital's DICOM PatientIDs without an issuer
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    # Issuer of Patient ID (0010,0021) texts this hospital uses for national IDs, besides the system URI.
    national_id_issuers: tuple[str, ...] = ()
    national_id_source: NationalIdSource = "issuer"

    @property
    def dicomweb_url(self) -> str:
        return f"{self.orthanc_url}{DICOMWEB_ROOT}"

    @property
    def endpoint_ids(self) -> tuple[str, str]:
        return self.wado_endpoint_id, self.qido_endpoint_id

    @property
    def organization_reference(self) -> str:
        return f"Organization/{self.organization_id}"

    @property
    def auth(self) -> tuple[str, str] | None:
        return (self.username, self.password or "") if self.username else None

    def public_json(self) -> dict[str, Any]:
        return {
            "organization": self.organization_reference,
            "identifier": self.identifier,
            "name": self.name,
            "orthancUrl": self.orthanc_url,
            "orthancUser": self.username,
            "hasPassword": bool(self.password),
            "endpoints": [f"Endpoint/{i}" for i in self.endpoint_ids],
            "patientIdSystem": self.patient_id_system,
            "nationalIdIssuers": list(self.national_id_issuers),
            "nationalIdSource": self.national_id_source,
        }


def normalize_orthanc_url(url: str) -> str:
    """The Orthanc REST root from what an operator typed; the DICOMweb root is accepted and cut off.

    Credentials inside the URL are refused: they would end up in logs and error messages.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"the Orthanc URL must be an absolute http(s) URL, not {url!r}")
    if parts.username or parts.password:
        raise ValueError("put Orthanc credentials in --orthanc-user/--orthanc-password, not in the URL")
    if parts.query or parts.fragment:
        raise ValueError(f"the Orthanc URL must not have a query or fragment: {url!r}")
    path = parts.path.rstrip("/")
    if path.endswith(DICOMWEB_ROOT):
        path = path[: -len(DICOMWEB_ROOT)]
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


class ConnectionStore:
    def __init__(self, documents: Documents, master_key: MasterKey) -> None:
        # Unique `identifier` index: fhir_server.storage.schema.
        self._collection = documents.collection(COLLECTION)
        self._key = master_key

    def insert(self, connection: HospitalConnection) -> None:
        """A new hospital; DuplicateKey if its id or identifier is registered already."""
        self._collection.insert_one(self._to_doc(connection))

    def save(self, connection: HospitalConnection) -> None:
        self._collection.replace_one(
            {"_id": connection.organization_id}, self._to_doc(connection), upsert=True
        )

    def get(self, organization_id: str) -> HospitalConnection | None:
        return self._from_doc(self._collection.find_one({"_id": organization_id}))

    def by_identifier(self, identifier: str) -> HospitalConnection | None:
        return self._from_doc(self._collection.find_one({"identifier": identifier}))

    def by_endpoint(self, endpoint_id: str) -> HospitalConnection | None:
        return self._from_doc(self._collection.find_one({"endpoint_ids": endpoint_id}))

    def find(self, hospital: str) -> HospitalConnection | None:
        """By Organization id, `Organization/<id>`, hospital identifier (HOS-…) or Endpoint id."""
        key = hospital.removeprefix("Organization/")
        return self.get(key) or self.by_identifier(hospital) or self.by_endpoint(key)

    def all(self) -> Iterator[HospitalConnection]:
        for doc in self._collection.find({}, sort=[("identifier", ASCENDING)]):
            connection = self._from_doc(doc)
            if connection is not None:
                yield connection

    def seal_plain_passwords(self) -> None:
        """Connections saved before passwords were sealed are sealed now (at start-up; a no-op after)."""
        for doc in self._collection.find({"password": {"$type": "string"}}):
            sealed = self._key.seal(doc["password"].encode())
            self._collection.update_one(
                {"_id": doc["_id"], "password": doc["password"]},
                {"$set": {"password_sealed": sealed}, "$unset": {"password": ""}},
            )

    def _to_doc(self, connection: HospitalConnection) -> Document:
        password = connection.password
        return {
            **_fields_without_password(connection),
            "password_sealed": self._key.seal(password.encode()) if password is not None else None,
        }

    def _from_doc(self, doc: Document | None) -> HospitalConnection | None:
        if doc is None:
            return None
        password = doc.get("password")  # not sealed yet: written before sealing, start-up seals it
        if doc.get("password_sealed"):
            password = self._key.open(doc["password_sealed"]).decode()
        return _connection(doc, password)


def _fields_without_password(connection: HospitalConnection) -> Document:
    return {
        "_id": connection.organization_id,
        "identifier": connection.identifier,
        "name": connection.name,
        "orthanc_url": connection.orthanc_url,
        "username": connection.username,
        "wado_endpoint_id": connection.wado_endpoint_id,
        "qido_endpoint_id": connection.qido_endpoint_id,
        "endpoint_ids": list(connection.endpoint_ids),
        "patient_id_system": connection.patient_id_system,
        "national_id_issuers": list(connection.national_id_issuers),
        "national_id_source": connection.national_id_source,
    }


def _connection(doc: Document, password: str | None) -> HospitalConnection:
    return HospitalConnection(
        organization_id=doc["_id"],
        identifier=doc["identifier"],
        name=doc["name"],
        orthanc_url=doc["orthanc_url"],
        wado_endpoint_id=doc["wado_endpoint_id"],
        qido_endpoint_id=doc["qido_endpoint_id"],
        patient_id_system=doc["patient_id_system"],
        username=doc.get("username"),
        password=password,
        national_id_issuers=tuple(doc.get("national_id_issuers") or ()),
        # Connections saved before the field existed used issuers only.
        national_id_source=_national_id_source(doc.get("national_id_source")),
    )


def _national_id_source(value: object) -> NationalIdSource:
    return "patient-id" if value == "patient-id" else "issuer"
