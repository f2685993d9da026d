"""The old application's demo data set — 3 hospitals, 3 patients (John Doe has the national ID
199012345678901234), 4 studies — as rows of its own tables, plus the images each study gets.

Being rows of the old schema, the demo goes through the same pure mapping as `import-legacy`
(mappers.legacy), so its resources have the same ids the import gives (HOS-001 -> Organization/legacy-hos-001)
and importing the old database over a demo changes nothing it should not.
"""

from __future__ import annotations

from dataclasses import dataclass

from fhir_server.demo.dicom_samples import SamplePatient, SampleSeries
from mappers.legacy_values import legacy_fhir_id

# What the demo PACS write as Issuer of Patient ID of a national ID (registered with each demo hospital,
# so the sync joins the studies to the national identifier).
NATIONAL_ID_ISSUER = "NIDA"
# The old app's timestamps are local time of its hospitals (East Africa Time).
TIMEZONE_OFFSET = "+0300"
# Digital X-Ray Image Storage - For Presentation (PS3.4 B.5): the demo's radiographs.
DX_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.1.1"

HOSPITALS: list[dict[str, str | None]] = [
    {
        "id": "HOS-001",
        "name": "General Hospital",
        "address": "123 Medical St",
        "phone": "+255-22-1234567",
        "email": "admin@hospital.org",
    },
    {
        "id": "HOS-002",
        "name": "Regional Referral Hospital",
        "address": "45 Uhuru Rd, Arusha",
        "phone": "+255-27-2500000",
        "email": None,
    },
    {
        "id": "HOS-003",
        "name": "Coastal Imaging Centre",
        "address": None,
        "phone": None,
        "email": "info@coastal-imaging.example",
    },
]

PATIENTS: list[dict[str, str | None]] = [
    {
        "id": "PAT-901234",
        "national_id": "199012345678901234",
        "first_name": "John",
        "last_name": "Doe",
        "date_of_birth": "1990-05-15",
        "gender": "M",
        "phone": "+255712345678",
    },
    {
        "id": "PAT-567890",
        "national_id": "198507151234567890",
        "first_name": "Amina",
        "last_name": "Mwakyusa",
        "date_of_birth": "1985-07-15",
        "gender": "F",
        "phone": "+255713000111",
    },
    {
        "id": "PAT-112233",
        "national_id": "200001011122334455",
        "first_name": "Baraka",
        "last_name": "Kimaro",
        "date_of_birth": "2000-01-01",
        "gender": "M",
        "phone": None,
    },
]

STUDIES: list[dict[str, str | None]] = [
    {
        "id": "STU-20240115103000",
        "patient_id": "PAT-901234",
        "hospital_id": "HOS-001",
        "study_date": "2024-01-15 10:30:00",
        "modality": "XR",
        "description": "Chest X-Ray",
    },
    {
        "id": "STU-20240220091500",
        "patient_id": "PAT-901234",
        "hospital_id": "HOS-002",
        "study_date": "2024-02-20 09:15:00",
        "modality": "CT",
        "description": "CT Head without contrast",
    },
    {
        "id": "STU-20240305140000",
        "patient_id": "PAT-567890",
        "hospital_id": "HOS-003",
        "study_date": "2024-03-05 14:00:00",
        "modality": "US",
        "description": "Abdominal Ultrasound",
    },
    {
        "id": "STU-20240410080000",
        "patient_id": "PAT-112233",
        "hospital_id": "HOS-001",
        "study_date": "2024-04-10 08:00:00",
        "modality": "XR",
        "description": "Left wrist X-Ray",
    },
]

# The images of each study, from the files bundled with pydicom (no download): radiographs are small CT/MR
# frames presented as DX, the ultrasound is pydicom's RGB ultrasound frame.
_SERIES: dict[str, list[SampleSeries]] = {
    "STU-20240115103000": [
        SampleSeries(
            "CT_small.dcm",
            1,
            description="Chest PA",
            modality="DX",
            sop_class_uid=DX_IMAGE_STORAGE,
            body_part="CHEST",
        ),
        SampleSeries(
            "CT_small.dcm",
            2,
            description="Chest LAT",
            modality="DX",
            sop_class_uid=DX_IMAGE_STORAGE,
            body_part="CHEST",
        ),
    ],
    "STU-20240220091500": [
        SampleSeries("CT_small.dcm", 1, instances=3, description="Head axial 5 mm", body_part="HEAD"),
        SampleSeries("CT_small.dcm", 2, instances=2, description="Head axial bone", body_part="HEAD"),
    ],
    "STU-20240305140000": [
        SampleSeries("examples_rgb_color.dcm", 1, instances=2, description="Abdomen", body_part="ABDOMEN"),
    ],
    "STU-20240410080000": [
        SampleSeries(
            "MR_small.dcm",
            1,
            description="Wrist PA",
            modality="DX",
            sop_class_uid=DX_IMAGE_STORAGE,
            body_part="HAND",
        ),
    ],
}


@dataclass(frozen=True)
class DemoStudy:
    legacy_id: str
    fhir_id: str
    hospital: str  # legacy hospital id, e.g. HOS-001
    patient: SamplePatient
    series: list[SampleSeries]
    description: str
    accession: str
    started: tuple[str, str, str]  # StudyDate, StudyTime, TimezoneOffsetFromUTC


def rows() -> dict[str, list[dict[str, str | None]]]:
    """The tables as `mappers.legacy.map_legacy_database` takes them."""
    return {"hospitals": HOSPITALS, "patients": PATIENTS, "studies": STUDIES}


def fhir_id_of(legacy_id: str) -> str:
    fhir_id = legacy_fhir_id(legacy_id)
    if fhir_id is None:  # the rows above are valid legacy ids
        raise ValueError(legacy_id)
    return fhir_id


def demo_studies() -> list[DemoStudy]:
    patients = {row["id"]: row for row in PATIENTS}
    studies = []
    for row in STUDIES:
        legacy_id = str(row["id"])
        patient = patients[row["patient_id"]]
        day, time = str(row["study_date"]).split(" ")
        studies.append(
            DemoStudy(
                legacy_id=legacy_id,
                fhir_id=fhir_id_of(legacy_id),
                hospital=str(row["hospital_id"]),
                patient=SamplePatient(
                    patient_id=str(patient["id"]),
                    name=f"{patient['last_name']}^{patient['first_name']}",
                    birth_date=str(patient["date_of_birth"]).replace("-", ""),
                    sex=str(patient["gender"]),
                    national_id=patient["national_id"],
                    national_issuer=NATIONAL_ID_ISSUER,
                ),
                series=_SERIES[legacy_id],
                description=str(row["description"]),
                # Accession Number is SH (16 characters): the legacy id without its prefix fits.
                accession=legacy_id.removeprefix("STU-"),
                started=(day.replace("-", ""), time.replace(":", ""), TIMEZONE_OFFSET),
            )
        )
    return studies
