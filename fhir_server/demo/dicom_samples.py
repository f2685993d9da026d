"""Distinct DICOM studies made from the test files that ship inside pydicom (CT_small.dcm, MR_small.dcm, …):
new UIDs, patient and study attributes rewritten, so several hospitals can hold different studies of one
patient. Used by the demo data set and by the tests; nothing here touches the network.
"""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import numpy as np
from pydicom import Dataset, dcmread
from pydicom.data import get_testdata_file
from pydicom.sequence import Sequence
from pydicom.uid import UID, generate_uid

_DATES = [
    ("SeriesDate", "SeriesTime"),
    ("AcquisitionDate", "AcquisitionTime"),
    ("ContentDate", "ContentTime"),
]


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
    # Presents the source's pixels as another kind of image (e.g. a CT slice as a DX radiograph): the
    # Modality and the SOP Class change together, so the instance stays self-consistent for viewers.
    modality: str | None = None
    sop_class_uid: str | None = None
    body_part: str | None = None


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
            # The source file's own acquisition dates would contradict the study's.
            for date_tag, time_tag in _DATES:
                if date_tag in dataset:
                    setattr(dataset, date_tag, started[0])
                if time_tag in dataset:
                    setattr(dataset, time_tag, started[1])
            dataset.AccessionNumber = accession
            dataset.ReferringPhysicianName = referrer
            dataset.SeriesInstanceUID = series_uid
            dataset.SeriesNumber = entry.number
            if entry.description:
                dataset.SeriesDescription = entry.description
            if entry.modality:
                dataset.Modality = entry.modality
            if entry.sop_class_uid:
                dataset.SOPClassUID = entry.sop_class_uid
                dataset.file_meta.MediaStorageSOPClassUID = UID(entry.sop_class_uid)
            if entry.body_part:
                dataset.BodyPartExamined = entry.body_part
            dataset.SOPInstanceUID = generate_uid()
            dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
            dataset.InstanceNumber = number
            if entry.instances > 1:
                _as_slice(dataset, number - 1)
            datasets.append(dataset)
    return datasets


# How far apart consecutive slices of one series are, in pixels: enough for a scroll to show a change.
_SLICE_SHIFT_ROWS = 9
_SLICE_SHIFT_COLUMNS = 4


def _as_slice(dataset: Dataset, index: int) -> None:
    """Makes instance `index` of a series a slice of its own: the source image shifted by `index` steps and
    placed `index` slice thicknesses further along the stack, so that a viewer scrolling through the series
    shows a change (pydicom ships one CT slice, not a volume). Only uncompressed grayscale images are
    shifted; anything else keeps its pixels."""
    if (
        index == 0
        or dataset.get("SamplesPerPixel", 1) != 1
        or dataset.file_meta.TransferSyntaxUID.is_compressed
    ):
        return
    pixels = dataset.pixel_array
    shifted = np.roll(pixels, (index * _SLICE_SHIFT_ROWS, index * _SLICE_SHIFT_COLUMNS), axis=(0, 1))
    dataset.PixelData = shifted.astype(pixels.dtype).tobytes()
    thickness = float(dataset.get("SliceThickness") or 1.0)
    if "ImagePositionPatient" in dataset:
        x, y, z = (float(v) for v in dataset.ImagePositionPatient)
        dataset.ImagePositionPatient = [x, y, round(z + index * thickness, 4)]
    if "SliceLocation" in dataset:
        dataset.SliceLocation = round(float(dataset.SliceLocation) + index * thickness, 4)


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
    if path is None:
        raise FileNotFoundError(f"{name} is not bundled with this pydicom")
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
