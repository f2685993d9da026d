"""The old API's writes (`POST /api/hospitals`, `POST /api/patients`, `POST /api/hospitals/{id}/studies`):
each old body is mapped by the same pure functions as `import-legacy` (`mappers.legacy`), validated with the
server's write rules and created through the caller's secured store (its scopes decide, the write is
audited). Ids are the server's; the old id is the resource's `legacy-*-id` identifier, so the old API, the
FHIR API (`identifier=`) and a later import all find it.

The old app failed with a 500 on a duplicate id or national ID and on a missing required field; here they
are a 409 and a 400 OperationOutcome naming the field. Duplicates are looked for among what the caller may
see, under the criteria lock of conditional creates, so two identical requests create one resource.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from datetime import datetime
from urllib.parse import parse_qsl

from fhir_server.errors import FhirError, Problem
from fhir_server.interactions.lookup import identifier_query
from fhir_server.interactions.services import Services
from fhir_server.security.access.store import SecuredStore
from fhir_server.validation import parse_json
from mappers.legacy import (
    LegacyMapping,
    hospital_endpoint,
    hospital_to_organization,
    patient_to_patient,
    study_to_imaging_study,
)
from mappers.legacy_modality import modality_lookup_from_terminology
from mappers.legacy_values import (
    EAST_AFRICA_TIME,
    canonical_national_id,
    fhir_date,
    fhir_datetime,
    fhir_gender,
)

from .lookups import OLD_ID_SYSTEMS, OldApiReader
from .shapes import Resource

_HOSPITAL_FIELDS = {"id": True, "name": True, "address": False, "phone": False, "email": False}
_PATIENT_FIELDS = {
    "national_id": True,
    "first_name": True,
    "last_name": True,
    "date_of_birth": False,
    "gender": False,
    "phone": False,
}
_STUDY_FIELDS = {
    "patient_id": True,
    "study_date": False,
    "modality": False,
    "description": False,
    "orthanc_study_id": False,
}
_WADO_RS = "dicom-wado-rs"


def old_body(body: bytes, fields: dict[str, bool]) -> dict[str, str | None]:
    """The old JSON body: an object of strings (or null) with the required fields present; anything else
    a 400 naming the field. Unknown fields are refused rather than dropped, so a typo is noticed."""
    data = parse_json(body)
    if not isinstance(data, dict):
        raise FhirError(Problem.STRUCTURE, "The body must be a JSON object")
    for name, value in data.items():
        if name not in fields:
            raise FhirError(
                Problem.STRUCTURE, f"Unknown field {name!r}; expected {', '.join(fields)}", [name]
            )
        if value is not None and not isinstance(value, str):
            raise FhirError(Problem.STRUCTURE, f"{name} must be a string", [name])
    for name, required in fields.items():
        if required and not (data.get(name) or "").strip():
            raise FhirError(Problem.REQUIRED, f"{name} is required", [name])
    return {name: data.get(name) for name in fields}


def _readable(row: dict[str, str | None], name: str, read: Callable[[str], object | None], what: str) -> None:
    """The import keeps a row whose gender or date it cannot read (with a warning in its report); a caller
    of the API is told instead, since a value it sent would otherwise be dropped silently."""
    value = (row.get(name) or "").strip()
    if value and read(value) is None:
        raise FhirError(Problem.INVALID, f"{name} {value[:40]!r} is not {what}", [name])


def _mapped(mapping: LegacyMapping) -> Resource:
    if mapping.resource is None:
        rejected = mapping.issues[-1]
        raise FhirError(Problem.INVALID, rejected.reason, [rejected.field] if rejected.field else [])
    resource = dict(mapping.resource)
    resource.pop("id", None)  # the server assigns ids; the old id is an identifier
    return resource


def _criteria(system: str, value: str) -> list[tuple[str, str]]:
    return parse_qsl(identifier_query(system, value))


class OldApiWriter:
    def __init__(self, services: Services, reader: OldApiReader) -> None:
        self._services = services
        self._reader = reader

    def _refuse_existing(self, resource_type: str, criteria: Sequence[tuple[str, str]], what: str) -> None:
        if self._reader.search(resource_type, criteria):
            raise FhirError(Problem.CONFLICT, f"{what} is already registered", [criteria[0][0]])

    def _create(self, resource: Resource, store: SecuredStore | None = None) -> Resource:
        valid, _ = self._services.rules.validate(resource)
        version = (store or self._reader.store).create(valid)
        assert version.resource is not None
        return version.resource

    def register_hospital(self, body: bytes) -> str:
        row = old_body(body, _HOSPITAL_FIELDS)
        old_id = str(row["id"]).strip()
        organization = _mapped(hospital_to_organization({**row, "id": old_id}))
        criteria = _criteria(OLD_ID_SYSTEMS["Organization"], old_id)
        with self._services.criteria_locks().hold("Organization", criteria):
            self._refuse_existing("Organization", criteria, f"Hospital {old_id}")
            with self._reader.store.transaction() as store:  # both or neither
                created = self._create(organization, store)
                endpoint = hospital_endpoint(created["id"], str(row["name"]), None)
                endpoint.pop("id", None)
                self._create(endpoint, store)
        return old_id

    def register_patient(self, body: bytes) -> str:
        row = old_body(body, _PATIENT_FIELDS)
        _readable(row, "gender", fhir_gender, "a gender (M, F, O, U, male, female, other, unknown)")
        _readable(row, "date_of_birth", fhir_date, "a date (YYYY-MM-DD or DD/MM/YYYY)")
        national_id = canonical_national_id(str(row["national_id"]))
        old_id = f"PAT-{national_id[-6:]}"  # the old app's rule
        patient = _mapped(
            patient_to_patient(
                {**row, "id": old_id}, national_id_system=self._services.settings.national_id_system
            )
        )
        by_old_id = _criteria(OLD_ID_SYSTEMS["Patient"], old_id)
        by_national_id = _criteria(self._services.settings.national_id_system, national_id)
        with ExitStack() as locks:
            for criteria in sorted([by_old_id, by_national_id]):  # one order: two requests never cross
                locks.enter_context(self._services.criteria_locks().hold("Patient", criteria))
            self._refuse_existing("Patient", by_national_id, f"A patient with national_id {national_id}")
            self._refuse_existing("Patient", by_old_id, f"Patient {old_id}")
            self._create(patient)
        return old_id

    def register_study(self, hospital_old_id: str, body: bytes) -> str:
        row = old_body(body, _STUDY_FIELDS)
        _readable(row, "study_date", lambda v: fhir_datetime(v, EAST_AFRICA_TIME), "a date and time")
        hospital = self._reader.required("Organization", hospital_old_id)
        patient_old_id = str(row["patient_id"]).strip()
        patient = self._reader.required("Patient", patient_old_id, "patient_id")
        endpoint = self._endpoint_of(hospital)
        # The old app's rule: the creation time and 8 hex digits.
        old_id = f"STU-{datetime.now(EAST_AFRICA_TIME):%Y%m%d%H%M%S}-{uuid.uuid4().hex[:8]}"
        study = _mapped(
            study_to_imaging_study(
                {**row, "id": old_id, "patient_id": patient_old_id, "hospital_id": hospital_old_id},
                patients={patient_old_id: patient["id"]},
                hospitals={hospital_old_id: hospital["id"]},
                modality_to_dcm=modality_lookup_from_terminology(self._services.terminology),
            )
        )
        study["endpoint"] = [{"reference": f"Endpoint/{endpoint['id']}"}]
        self._create(study)
        return old_id

    def _endpoint_of(self, hospital: Resource) -> Resource:
        endpoints = self._reader.search("Endpoint", [("organization", f"Organization/{hospital['id']}")])
        wado = [e for e in endpoints if e.get("connectionType", {}).get("code") == _WADO_RS]
        if not (wado or endpoints):
            raise FhirError(
                Problem.UNPROCESSABLE,
                f"Hospital {hospital['id']} has no Endpoint to link its studies to; register it again",
            )
        return (wado or endpoints)[0]
