"""A small, realistic demo data set: three hospitals with their DICOMweb endpoints, patients and studies.

Loading is idempotent: resources have fixed ids and are only written when absent.
"""

from __future__ import annotations

from typing import Any

from fhir_server.storage.repository import Repository
from fhir_server.validation import validate_resource

NATIONAL_ID = "https://fhir.imaging-federation.example/sid/national-id"
HOSPITAL_ID = "https://fhir.imaging-federation.example/sid/hospital-id"
DCM = "http://dicom.nema.org/resources/ontology/DCM"

_HOSPITALS = [
    ("hosp-north", "HOS-001", "North Regional Hospital", "Oslo", "http://127.0.0.1:8042/dicom-web"),
    ("hosp-central", "HOS-002", "Central University Hospital", "Bergen", "http://127.0.0.1:8043/dicom-web"),
    ("hosp-south", "HOS-003", "South Coast Clinic", "Kristiansand", "http://127.0.0.1:8044/dicom-web"),
]
_PATIENTS = [
    ("pat-1", "19850312-1234", "Hansen", ["Ingrid"], "female", "1985-03-12"),
    ("pat-2", "19720101-5678", "Olsen", ["Lars", "Erik"], "male", "1972-01-01"),
    ("pat-3", "20010720-4321", "Nguyen", ["Mai"], "female", "2001-07-20"),
    ("pat-4", "19590930-8765", "Müller", ["Jürgen"], "male", "1959-09-30"),
]
_STUDIES = [
    (
        "study-1",
        "pat-1",
        "hosp-north",
        "CT",
        "Computed Tomography",
        "CT chest with contrast",
        "2024-01-15T10:30:00Z",
        3,
        245,
    ),
    (
        "study-2",
        "pat-1",
        "hosp-central",
        "MR",
        "Magnetic Resonance",
        "MR brain",
        "2024-03-02T08:05:00Z",
        5,
        180,
    ),
    (
        "study-3",
        "pat-1",
        "hosp-south",
        "US",
        "Ultrasound",
        "Abdominal ultrasound",
        "2024-06-11T14:20:00Z",
        1,
        24,
    ),
    (
        "study-4",
        "pat-2",
        "hosp-north",
        "DX",
        "Digital Radiography",
        "Chest X-ray PA/LAT",
        "2023-11-20T09:00:00Z",
        1,
        2,
    ),
    (
        "study-5",
        "pat-3",
        "hosp-central",
        "MG",
        "Mammography",
        "Screening mammography",
        "2024-02-14T11:45:00Z",
        1,
        4,
    ),
    (
        "study-6",
        "pat-4",
        "hosp-south",
        "PT",
        "Positron emission tomography (PET)",
        "PET-CT whole body",
        "2024-05-05T07:30:00Z",
        4,
        620,
    ),
]


def demo_resources() -> list[dict[str, Any]]:
    resources: list[dict[str, Any]] = []
    for org_id, code, name, city, dicomweb in _HOSPITALS:
        resources.append(
            {
                "resourceType": "Organization",
                "id": org_id,
                "active": True,
                "name": name,
                "identifier": [{"system": HOSPITAL_ID, "value": code}],
                "address": [{"city": city, "country": "NO"}],
                "endpoint": [{"reference": f"Endpoint/{org_id}-wado"}],
            }
        )
        resources.append(
            {
                "resourceType": "Endpoint",
                "id": f"{org_id}-wado",
                "status": "active",
                "name": f"{name} DICOMweb",
                "connectionType": {
                    "system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
                    "code": "dicom-wado-rs",
                },
                "managingOrganization": {"reference": f"Organization/{org_id}", "display": name},
                "payloadType": [{"text": "DICOM WADO-RS"}],
                "payloadMimeType": ["application/dicom"],
                "address": dicomweb,
            }
        )
    for pat_id, national_id, family, given, gender, birth in _PATIENTS:
        resources.append(
            {
                "resourceType": "Patient",
                "id": pat_id,
                "active": True,
                "identifier": [
                    {
                        "type": {
                            "coding": [
                                {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "NI"}
                            ]
                        },
                        "system": NATIONAL_ID,
                        "value": national_id,
                    }
                ],
                "name": [{"family": family, "given": given}],
                "gender": gender,
                "birthDate": birth,
            }
        )
    for n, (
        study_id,
        pat_id,
        org_id,
        modality,
        display,
        description,
        started,
        series,
        instances,
    ) in enumerate(_STUDIES, start=1):
        uid = f"1.2.826.0.1.3680043.8.498.{1000 + n}"
        resources.append(
            {
                "resourceType": "ImagingStudy",
                "id": study_id,
                "status": "available",
                "identifier": [{"system": "urn:dicom:uid", "value": f"urn:oid:{uid}"}],
                "subject": {"reference": f"Patient/{pat_id}"},
                "started": started,
                "description": description,
                "modality": [{"system": DCM, "code": modality, "display": display}],
                "numberOfSeries": series,
                "numberOfInstances": instances,
                "endpoint": [{"reference": f"Endpoint/{org_id}-wado"}],
            }
        )
    return resources


def load_demo(repository: Repository) -> int:
    created = 0
    for resource in demo_resources():
        if repository.read(resource["resourceType"], resource["id"]) is not None:
            continue
        normalized, _ = validate_resource(resource)
        repository.update(normalized, expected_version=None)
        created += 1
    return created
