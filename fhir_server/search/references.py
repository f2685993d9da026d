"""Reference values as they are indexed and searched (https://hl7.org/fhir/R4/search.html#reference).

A literal reference is indexed as `Type/id` when it is relative or an absolute URL under one of this
server's own base URLs (version suffixes dropped); other absolute URLs are kept as they are. Contained
references (`#x`) are not searchable.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_RELATIVE = re.compile(r"^([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")


def normalize_reference(reference: str, own_bases: Sequence[str]) -> str | None:
    reference = reference.strip()
    if not reference or reference.startswith("#"):
        return None
    for base in own_bases:
        if reference.startswith(base + "/"):
            reference = reference[len(base) + 1 :]
            break
    match = _RELATIVE.match(reference)
    if match is not None:
        return f"{match.group(1)}/{match.group(2)}"
    if "://" in reference or reference.startswith("urn:"):
        return reference
    return None


def split_relative(reference: str) -> tuple[str, str] | None:
    """(type, id) of a normalized relative reference; None for an absolute one."""
    match = _RELATIVE.match(reference)
    return None if match is None else (match.group(1), match.group(2))
