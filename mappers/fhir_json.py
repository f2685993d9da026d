"""Building FHIR JSON dicts."""

from collections.abc import Mapping
from typing import Any

# What a FHIR server sets on every write; not part of a resource's content.
SERVER_META = ("versionId", "lastUpdated")


def compact(**elements: Any) -> dict[str, Any]:
    """The given elements minus absent ones: FHIR JSON forbids nulls and empty strings, arrays, objects.

    0 and False are kept; they are real values (e.g. numberOfInstances 0).
    """
    return {name: value for name, value in elements.items() if value not in (None, "", [], {})}


def content(resource: Mapping[str, Any]) -> dict[str, Any]:
    """The resource without what the server sets on every write (meta.versionId, meta.lastUpdated)."""
    out = dict(resource)
    meta = {k: v for k, v in (out.pop("meta", None) or {}).items() if k not in SERVER_META}
    if meta:
        out["meta"] = meta
    return out
