"""The seam between the server and whatever answers terminology questions.

The server depends only on this Protocol. `LocalTerminology` implements it from the shipped JSON;
a hospital with its own terminology server implements the same five methods as an HTTP client.
"""

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from terminology.results import LookupResult, TranslateResult, ValidationResult


@runtime_checkable
class TerminologyService(Protocol):
    def lookup(
        self,
        system: str,
        code: str,
        version: str | None = None,
        display_language: str | None = None,
        properties: Sequence[str] | None = None,
    ) -> LookupResult | None:
        """Details of one concept; None when the code system is known but the code is not.

        Raises TerminologyError("not-found") when the code system itself is unknown.
        """
        ...

    def validate_code(
        self,
        *,
        url: str | None = None,
        value_set: dict[str, Any] | None = None,
        system: str | None = None,
        code: str | None = None,
        display: str | None = None,
        coding: dict[str, Any] | None = None,
        codeable_concept: dict[str, Any] | None = None,
    ) -> ValidationResult:
        """Validate a code against a ValueSet (`url` or inline `value_set`) or a CodeSystem.

        `url` may name a ValueSet or a CodeSystem: canonical URLs are unique across both. Called on
        every write, so implementations must answer from memory or a cache.
        """
        ...

    def expand(
        self,
        url: str,
        filter: str | None = None,
        count: int | None = None,
        offset: int | None = None,
    ) -> dict[str, Any]:
        """A ValueSet resource carrying an `expansion` (total, offset, parameter echo, contains)."""
        ...

    def translate(
        self,
        *,
        system: str,
        code: str,
        url: str | None = None,
        concept_map: dict[str, Any] | None = None,
        source: str | None = None,
        target: str | None = None,
        target_system: str | None = None,
        reverse: bool = False,
    ) -> TranslateResult:
        """Translate a code through a ConceptMap (`url`, inline `concept_map`, or any matching one)."""
        ...

    def resources(self) -> list[dict[str, Any]]:
        """Every conformance/terminology resource the service knows, for read-only serving."""
        ...
