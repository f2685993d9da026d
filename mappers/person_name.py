"""DICOM PN values (component groups of ``Family^Given^Middle^Prefix^Suffix``) as FHIR HumanName."""

from collections.abc import Mapping
from typing import Any

from mappers import fhir_systems
from mappers.fhir_json import compact

# The iso21090-EN-representation codes: how FHIR tells the ideographic (kanji) and phonetic (kana) spellings
# of one name apart. Alphabetic is the default representation and needs no marker.
_REPRESENTATION = {"Ideographic": "IDE", "Phonetic": "SYL"}


def _components(group: str) -> tuple[str, str, str, str, str]:
    family, given, middle, prefix, suffix = ([part.strip() for part in group.split("^")] + [""] * 5)[:5]
    return family, given, middle, prefix, suffix


def human_name(group_name: str, group: str) -> dict[str, Any] | None:
    """One PN component group as a HumanName; None when every component is empty."""
    family, given, middle, prefix, suffix = _components(group)
    name = compact(
        family=family,
        given=[part for part in (given, middle) if part],
        prefix=[prefix] if prefix else None,
        suffix=[suffix] if suffix else None,
    )
    if not name:
        return None
    if group_name in _REPRESENTATION:
        representation = {"url": fhir_systems.EN_REPRESENTATION, "valueCode": _REPRESENTATION[group_name]}
        name = {"extension": [representation], **name}
    return name


def human_names(pn: Mapping[str, str]) -> list[dict[str, Any]]:
    """All component groups of a PN (as read by ``dicom_json.person_name``), alphabetic first."""
    names = (human_name(group_name, group) for group_name, group in pn.items())
    return [name for name in names if name]


def display_name(pn: Mapping[str, str]) -> str | None:
    """Readable text for a Reference.display: the alphabetic group as "Dr John Doe Jr".

    Ideographic and phonetic groups are mostly Japanese, Chinese or Korean, written family name first, so
    they keep that order when they are the only spelling available.
    """
    for group_name, group in pn.items():
        family, given, middle, prefix, suffix = _components(group)
        if group_name == "Alphabetic":
            ordered = [prefix, given, middle, family, suffix]
        else:
            ordered = [prefix, family, given, middle, suffix]
        display = " ".join(part for part in ordered if part)
        if display:
            return display
    return None
