"""Sending DICOM files to a hospital's Orthanc with STOW-RS (PS3.18 §10.5), in batches so that a large upload
never sits in memory at once. The caller then syncs the uploaded studies so they appear as ImagingStudy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydicom import Dataset, dcmread
from pydicom.errors import InvalidDicomError

from fhir_server.dicomweb.orthanc.connections import HospitalConnection
from fhir_server.dicomweb.orthanc.dicomweb_client import OrthancDicomweb
from fhir_server.settings import Settings

BATCH_FILES = 50
BATCH_BYTES = 64 * 1024 * 1024

# PS3.18 Table 10.5.3-1: the store response's sequences of refused instances.
_FAILED_SOP_SEQUENCE = "FailedSOPSequence"


@dataclass
class UploadResult:
    stored: int = 0
    study_uids: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # unreadable files, refused instances


def dicom_files(paths: Iterable[Path]) -> list[Path]:
    """The files named, and every file under the directories named, in a stable order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file())
        else:
            found.append(path)
    return found


def upload(
    hospital: HospitalConnection,
    settings: Settings,
    files: Sequence[Path],
    on_file: Callable[[Path], object] = lambda path: None,  # what it returns is ignored
    on_stored: Callable[[int], object] = lambda count: None,  # instances Orthanc took, after each request
) -> UploadResult:
    """Raises OrthancFailure when Orthanc cannot be used; unreadable files are reported, not fatal."""
    result = UploadResult()
    return _store(hospital, settings, _batches(files, result, on_file), result, on_stored)


def upload_datasets(
    hospital: HospitalConnection, settings: Settings, datasets: Sequence[Dataset]
) -> UploadResult:
    """Datasets built in memory (the demo's), in one STOW-RS request per BATCH_FILES."""
    batches = (list(datasets[i : i + BATCH_FILES]) for i in range(0, len(datasets), BATCH_FILES))
    return _store(hospital, settings, batches, UploadResult())


def _store(
    hospital: HospitalConnection,
    settings: Settings,
    batches: Iterable[list[Dataset]],
    result: UploadResult,
    on_stored: Callable[[int], object] = lambda count: None,
) -> UploadResult:
    seen: dict[str, None] = {}
    with OrthancDicomweb(hospital, settings) as web:
        for batch in batches:
            response = web.store(batch)
            refused = _refused(response)
            result.errors += refused
            result.stored += len(batch) - len(refused)
            on_stored(len(batch))
            for dataset in batch:
                seen.setdefault(str(dataset.StudyInstanceUID), None)
    result.study_uids = list(seen)
    return result


def _batches(
    files: Sequence[Path], result: UploadResult, on_file: Callable[[Path], object]
) -> Iterator[list[Dataset]]:
    batch: list[Dataset] = []
    size = 0
    for path in files:
        try:
            dataset = dcmread(path)
            if "StudyInstanceUID" not in dataset or "SOPInstanceUID" not in dataset:
                raise InvalidDicomError("no Study or SOP Instance UID")
        except (InvalidDicomError, OSError, ValueError) as exc:
            result.errors.append(f"{path}: not a DICOM instance ({exc})")
            on_file(path)
            continue
        batch.append(dataset)
        size += path.stat().st_size
        on_file(path)
        if len(batch) >= BATCH_FILES or size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _refused(response: Dataset) -> list[str]:
    refused = []
    for item in response.get(_FAILED_SOP_SEQUENCE, []):
        uid = item.get("ReferencedSOPInstanceUID", "?")
        reason = item.get("FailureReason", "?")
        refused.append(f"instance {uid}: refused by Orthanc (failure reason {reason})")
    return refused
