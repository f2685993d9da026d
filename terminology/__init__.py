"""Local terminology service: shipped FHIR R4 terminology content, $lookup/$validate-code/$expand/
$translate, and write-time binding checks. See README.md for how to plug in an external server."""

from terminology.errors import ShippedDataError, TerminologyError
from terminology.local import LocalTerminology
from terminology.results import (
    ConceptProperty,
    Designation,
    LookupResult,
    TranslateMatch,
    TranslateResult,
    ValidationResult,
)
from terminology.service import TerminologyService

__all__ = [
    "ConceptProperty",
    "Designation",
    "LocalTerminology",
    "LookupResult",
    "ShippedDataError",
    "TerminologyError",
    "TerminologyService",
    "TranslateMatch",
    "TranslateResult",
    "ValidationResult",
]
