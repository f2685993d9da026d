"""Distinct DICOM studies made from pydicom's bundled test files (CT_small.dcm, MR_small.dcm): new UIDs,
patient and study attributes rewritten, so several hospitals can hold different studies of one patient.
"""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from pydicom import Dataset, dcmread
from pydicom.data import get_testdata_file
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid


@dataclass(frozen=True)
class SamplePatient:
    patient_id: str
    name: str
    birth_date: str
    sex: str
    national_id: str | None = None
    national_issuer: str | None = None  # Issuer of Patient ID of the national ID item


@dataclass(frozen=True)
class SampleSeries:
    source: str  # pydicom test file name
    number: int
    instances: int = 1
    description: str | None = None


def make_study(
    patient: SamplePatient,
    series: list[SampleSeries],
    *,
    description: str,
    accession: str,
    started: tuple[str, str, str] = ("20240115", "103000", "+0300"),
    referrer: str = "Doe^Jane",
    study_uid: str | None = None,
) -> list[Dataset]:
    """One study: every series from its source file, each instance with its own UIDs and number.

    `started` is (StudyDate, StudyTime, TimezoneOffsetFromUTC), the same on every instance; `study_uid`
    adds series to an existing study.
    """
    study_uid = study_uid or generate_uid()
    datasets = []
    for entry in series:
        series_uid = generate_uid()
        for number in range(1, entry.instances + 1):
            dataset = _source(entry.source)
            _set_patient(dataset, patient)
            dataset.StudyInstanceUID = study_uid
            dataset.StudyDescription = description
            dataset.StudyDate, dataset.StudyTime, dataset.TimezoneOffsetFromUTC = started
            dataset.AccessionNumber = accession
            dataset.ReferringPhysicianName = referrer
            dataset.SeriesInstanceUID = series_uid
            dataset.SeriesNumber = entry.number
            if entry.description:
                dataset.SeriesDescription = entry.description
            dataset.SOPInstanceUID = generate_uid()
            dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
            dataset.InstanceNumber = number
            datasets.append(dataset)
    return datasets


def to_bytes(dataset: Dataset) -> bytes:
    with BytesIO() as buffer:
        dataset.save_as(buffer, enforce_file_format=True)
        return buffer.getvalue()


def write_files(datasets: list[Dataset], directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for dataset in datasets:
        path = directory / f"{dataset.SOPInstanceUID}.dcm"
        path.write_bytes(to_bytes(dataset))
        paths.append(path)
    return paths


def _source(name: str) -> Dataset:
    path = get_testdata_file(name, download=False)
    assert path is not None, f"{name} is not bundled with this pydicom"
    return dcmread(path)


def _set_patient(dataset: Dataset, patient: SamplePatient) -> None:
    dataset.PatientID = patient.patient_id
    dataset.PatientName = patient.name
    dataset.PatientBirthDate = patient.birth_date
    dataset.PatientSex = patient.sex
    if patient.national_id is not None:
        item = Dataset()
        item.PatientID = patient.national_id
        item.IssuerOfPatientID = patient.national_issuer
        item.TypeOfPatientID = "TEXT"
        dataset.OtherPatientIDsSequence = Sequence([item])
