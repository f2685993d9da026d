"""The demo data set: the old application's demo (3 hospitals, 3 patients, 4 studies), made real — each
hospital with DICOMweb Endpoints for its Orthanc and, when Orthanc is reachable, real DICOM studies."""

from fhir_server.demo.loader import DEMO_ROLES, DemoReport, OrthancAccess, load_demo

__all__ = ["DEMO_ROLES", "DemoReport", "OrthancAccess", "load_demo"]
