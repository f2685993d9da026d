"""Pure DICOM / DICOMweb -> FHIR R4 mappers: data in, FHIR JSON dicts out, no I/O.

The public functions live in the modules (``mappers.imaging_study``, ``mappers.patient``,
``mappers.endpoint``, ``mappers.dicom_json``); nothing is re-exported here, so each name has one import path.
"""
