"""Orthanc federation: each hospital's PACS as FHIR Endpoints, a sync of its studies into ImagingStudy, and a
DICOMweb proxy under `/dicomweb/{endpoint-id}` that checks the authorization hook before forwarding.

Specs: shared/specs/imagingstudy-dicom.md, https://hl7.org/fhir/R4/imagingstudy.html,
https://hl7.org/fhir/R4/endpoint.html, DICOM PS3.18 (QIDO-RS / WADO-RS).
"""

# The face other features use (the dashboard, the demo); everything else in this package is its own.
from fhir_server.dicomweb.hospitals.registration import (
    HospitalChanges,
    HospitalRequest,
    create_hospital,
    update_hospital,
)
from fhir_server.dicomweb.orthanc.connections import HospitalConnection
from fhir_server.dicomweb.orthanc.errors import OrthancFailure
from fhir_server.dicomweb.orthanc.rest import OrthancRest
from fhir_server.dicomweb.orthanc.upload import upload_datasets
from fhir_server.dicomweb.proxy.compression import accepts_gzip
from fhir_server.dicomweb.runtime import DicomwebRuntime, RuntimeDep, seal_passwords, sync_services
from fhir_server.dicomweb.sync.runner import SyncServices, sync_hospital

__all__ = [
    "DicomwebRuntime",
    "HospitalChanges",
    "HospitalConnection",
    "HospitalRequest",
    "OrthancFailure",
    "OrthancRest",
    "RuntimeDep",
    "SyncServices",
    "accepts_gzip",
    "create_hospital",
    "seal_passwords",
    "sync_hospital",
    "sync_services",
    "update_hospital",
    "upload_datasets",
]
