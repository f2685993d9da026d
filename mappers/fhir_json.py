"""Building FHIR JSON dicts."""

from typing import Any


def compact(**elements: Any) -> dict[str, Any]:
    """The given elements minus absent ones: FHIR JSON forbids nulls and empty strings, arrays, objects.

    0 and False are kept; they are real values (e.g. numberOfInstances 0).
    """
    return {name: value for name, value in elements.items() if value not in (None, "", [], {})}
