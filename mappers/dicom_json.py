"""Reading the DICOM JSON model (PS3.18 F.2).

This is what QIDO-RS results, WADO-RS metadata, dicomweb-client and pydicom's ``Dataset.to_json_dict()``
produce: ``{"0020000D": {"vr": "UI", "Value": ["1.2.3"]}, ...}``. Archives differ in small ways (numbers
sent as strings, an element present with no ``Value``, a PN as a bare string), so every reader here
tolerates those and answers "absent" rather than failing.
"""

import re
from collections.abc import Mapping
from typing import Any

# One dataset: DICOM JSON key (8 hex digits) -> {"vr": ..., "Value": [...]}.
DicomJson = Mapping[str, Any]

PN_GROUPS = ("Alphabetic", "Ideographic", "Phonetic")

_INTEGER = re.compile(r"[+-]?\d+")


def values(dataset: DicomJson, tag: str) -> list[Any]:
    """All values of an attribute, null and blank ones dropped; [] when absent or without ``Value``."""
    element = dataset.get(tag)
    if not isinstance(element, Mapping):
        return []
    raw = element.get("Value")
    if not isinstance(raw, list):
        return []
    return [value for value in raw if not _is_blank(value)]


def has_value(dataset: DicomJson, tag: str) -> bool:
    return bool(values(dataset, tag))


def texts(dataset: DicomJson, tag: str) -> list[str]:
    """String values, trimmed."""
    return [_clean(str(value)) for value in values(dataset, tag)]


def text(dataset: DicomJson, tag: str) -> str | None:
    found = texts(dataset, tag)
    return found[0] if found else None


def integer(dataset: DicomJson, tag: str) -> int | None:
    """First value of an IS/US/SL... attribute; PS3.18 says JSON number, but some archives send strings."""
    found = values(dataset, tag)
    value = found[0] if found else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str) and _INTEGER.fullmatch(_clean(value)):
        return int(_clean(value))
    return None


def unsigned_integer(dataset: DicomJson, tag: str) -> int | None:
    """For FHIR unsignedInt elements (counts, numbers): a negative DICOM value is garbage, not a value."""
    number = integer(dataset, tag)
    return number if number is not None and number >= 0 else None


def person_name(dataset: DicomJson, tag: str) -> dict[str, str]:
    """First PN value as its non-empty component groups, e.g. ``{"Alphabetic": "Doe^John"}``.

    A bare string (seen from archives that flatten PN) is read like the DIMSE form ``A=I=P``.
    """
    for value in values(dataset, tag):
        if isinstance(value, str):
            value = dict(zip(PN_GROUPS, value.split("="), strict=False))
        if not isinstance(value, Mapping):
            return {}
        groups = {group: str(value.get(group) or "").strip() for group in PN_GROUPS}
        return {group: name for group, name in groups.items() if name.strip("^")}
    return {}


def items(dataset: DicomJson, tag: str) -> list[DicomJson]:
    """Items of a sequence (SQ) attribute."""
    return [item for item in values(dataset, tag) if isinstance(item, Mapping)]


def with_fallback(primary: DicomJson, *fallbacks: DicomJson) -> dict[str, Any]:
    """``primary``'s elements, plus, for attributes it has no value for, the first fallback's that has one.

    Lets a QIDO result (authoritative but sparse) borrow what only instance metadata carries, and lets a
    study or series read from instances that do not all carry every attribute (a report object often
    lacks the Study Date its images have).
    """
    combined = {tag: element for tag, element in primary.items() if has_value(primary, tag)}
    for fallback in fallbacks:
        for tag, element in fallback.items():
            if tag not in combined and has_value(fallback, tag):
                combined[tag] = element
    return combined


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not _clean(value))


def _clean(value: str) -> str:
    # Padding (spaces, the NUL after an odd-length UID) can survive some JSON encoders.
    return value.strip(" \x00\t\r\n")
