"""Plain result objects returned by a TerminologyService, independent of any wire format."""

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Designation:
    value: str
    language: str | None = None
    use: dict[str, Any] | None = None  # a FHIR Coding


@dataclass(frozen=True, slots=True)
class ConceptProperty:
    code: str
    value: Any
    # The FHIR value[x] suffix ("Code", "String", "Coding", "Boolean", ...), needed to serialise
    # the value back into Parameters without guessing its type from the Python value.
    value_type: str
    description: str | None = None


@dataclass(frozen=True, slots=True)
class LookupResult:
    system: str
    code: str
    name: str
    display: str
    version: str | None = None
    definition: str | None = None
    designations: tuple[Designation, ...] = ()
    properties: tuple[ConceptProperty, ...] = ()


@dataclass(frozen=True, slots=True)
class ValidationResult:
    result: bool
    message: str | None = None
    display: str | None = None  # the code system's display, returned even when `result` is false


@dataclass(frozen=True, slots=True)
class TranslateMatch:
    equivalence: str  # R4 ConceptMapEquivalence code
    concept: dict[str, Any]  # a FHIR Coding
    source: str | None = None  # canonical URL of the ConceptMap that produced the match
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class TranslateResult:
    result: bool
    message: str | None = None
    matches: tuple[TranslateMatch, ...] = field(default=())
