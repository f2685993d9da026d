"""Orthanc federation: each hospital's PACS as FHIR Endpoints, a sync of its studies into ImagingStudy, and a
DICOMweb proxy under `/dicomweb/{endpoint-id}` that checks the authorization hook before forwarding.

Specs: shared/specs/imagingstudy-dicom.md, https://hl7.org/fhir/R4/imagingstudy.html,
https://hl7.org/fhir/R4/endpoint.html, DICOM PS3.18 (QIDO-RS / WADO-RS).
"""
