"""Errors raised when DICOM input cannot be turned into a valid FHIR resource."""


class DicomMappingError(ValueError):
    """The DICOM data lacks something FHIR requires (a UID, a modality) or is inconsistent.

    A ValueError so callers that already turn bad input into an OperationOutcome keep working.
    """
