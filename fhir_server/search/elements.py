"""`_summary` and `_elements` (https://hl7.org/fhir/R4/search.html#summary, #elements).

Both work on top-level elements: `_summary=true` keeps the elements the R4 definitions mark as summary,
`text` keeps the narrative plus mandatory elements, `data` drops the narrative; `_elements` keeps the
listed elements plus mandatory ones. A reduced resource is tagged SUBSETTED, as the spec requires.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from fhir_server.resource_types import MODELS

SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}
_ALWAYS = ("resourceType", "id", "meta")


@cache
def _flagged(resource_type: str) -> tuple[frozenset[str], frozenset[str]]:
    """(summary element names, mandatory element names) of the type's R4B model."""
    summary: set[str] = set()
    mandatory: set[str] = set()
    for name, info in MODELS[resource_type].model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        if not extra.get("element_property"):
            continue
        alias = info.alias or name
        if extra.get("summary_element_property"):
            summary.add(alias)
        if info.is_required() or extra.get("element_required"):
            mandatory.add(alias)
    return frozenset(summary), frozenset(mandatory)


def reduce(resource: dict[str, Any], summary: str | None, elements: list[str] | None) -> dict[str, Any]:
    resource_type = resource["resourceType"]
    summary_names, mandatory = _flagged(resource_type)
    if summary == "true":
        keep = set(summary_names)
    elif summary == "text":
        keep = {"text", *mandatory}
    elif summary == "data":
        keep = {name for name in resource if name != "text"}
    elif elements is not None:
        keep = {*elements, *mandatory}
    else:
        return resource
    reduced = {
        name: value
        for name, value in resource.items()
        if name in _ALWAYS or name in keep or (name.startswith("_") and name[1:] in keep)
    }
    meta = dict(reduced.get("meta") or {})
    meta["tag"] = [*(meta.get("tag") or []), SUBSETTED]
    reduced["meta"] = meta
    return reduced
