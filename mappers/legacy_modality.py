"""The legacy application's free-text modalities as DCM Codings, through a caller-supplied look-up."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

from mappers.fhir_json import compact
from terminology.service import TerminologyService
from terminology.systems import DCM_SYSTEM, LEGACY_MODALITY_SYSTEM, LEGACY_MODALITY_TO_DCM_CONCEPT_MAP

DcmModality = tuple[str, str]  # (DCM code, display)
# One pair for a one-to-one mapping; several when the legacy value names several modalities (PET-CT is a PT
# and a CT study). None or empty: no mapping.
ModalityLookup = Callable[[str], DcmModality | Sequence[DcmModality] | None]

# R4 ConceptMap equivalences under which the DCM code is true of every study the legacy value describes.
_TRUE_OF_THE_STUDY: Final = frozenset({"relatedto", "equivalent", "equal", "wider", "subsumes"})
_NO_MATCH: Final = frozenset({"unmatched", "disjoint"})

if TYPE_CHECKING:  # typing.TypeIs is Python 3.13; the annotation is never evaluated at run time
    from typing_extensions import TypeIs


def dcm_codings(found: DcmModality | Sequence[DcmModality] | None) -> list[dict[str, Any]]:
    """ImagingStudy.modality Codings for what a ModalityLookup returned."""
    if not found:
        return []
    pairs = [found] if _is_single_pair(found) else found
    return [compact(system=DCM_SYSTEM, code=code, display=display) for code, display in pairs]


def _is_single_pair(found: DcmModality | Sequence[DcmModality]) -> TypeIs[DcmModality]:
    return isinstance(found, tuple) and len(found) == 2 and all(isinstance(part, str) for part in found)


def modality_lookup_from_terminology(terminology: TerminologyService) -> ModalityLookup:
    """A ModalityLookup answered by ``ConceptMap/legacy-modality-to-dcm`` through ``$translate``.

    When the map only offers narrower alternatives (legacy "X-Ray" is DX *or* CR, the detector type was
    never recorded), the first listed one is used: a study without a modality cannot be found by modality
    at all, and the importer keeps the legacy text in a note whenever it is not itself the DCM code.
    """

    def lookup(legacy_modality: str) -> list[DcmModality]:
        result = terminology.translate(
            system=LEGACY_MODALITY_SYSTEM,
            code=legacy_modality,
            url=LEGACY_MODALITY_TO_DCM_CONCEPT_MAP,
            target_system=DCM_SYSTEM,
        )
        matches = [m for m in result.matches if m.equivalence not in _NO_MATCH and m.concept.get("code")]
        exact = [m for m in matches if m.equivalence in _TRUE_OF_THE_STUDY]
        return [(m.concept["code"], m.concept.get("display", "")) for m in (exact or matches[:1])]

    return lookup
