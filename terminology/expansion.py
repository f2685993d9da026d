"""Building the `$expand` output: filtering, paging and the R4 `ValueSet.expansion` structure."""

import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from terminology.errors import TerminologyError
from terminology.valueset_index import ExpansionEntry

_WORD_BOUNDARY = re.compile(r"[^0-9a-z]+")
# Metadata worth keeping on an expanded ValueSet; `compose` is dropped because the expansion
# already states the result and clients should not have to re-evaluate it.
_KEPT_METADATA = (
    "id",
    "url",
    "identifier",
    "version",
    "name",
    "title",
    "status",
    "experimental",
    "publisher",
    "description",
)


def matches_filter(entry: ExpansionEntry, text_filter: str) -> bool:
    """Every filter word must start a word of the display, or start the code (case-insensitive).

    Word-prefix matching is what a UI type-ahead expects: "tomo" finds "Computed Tomography" but
    "ct" does not find "Key Object Selection".
    """
    words = _WORD_BOUNDARY.split((entry.display or "").casefold())
    code = entry.code.casefold()
    return all(
        code.startswith(token) or any(word.startswith(token) for word in words)
        for token in _WORD_BOUNDARY.split(text_filter.casefold())
        if token
    )


def build_expansion(
    value_set: dict[str, Any],
    entries: Sequence[ExpansionEntry],
    text_filter: str | None,
    count: int | None,
    offset: int | None,
) -> dict[str, Any]:
    for name, value in (("count", count), ("offset", offset)):
        if value is not None and value < 0:
            raise TerminologyError("invalid", f"parameter '{name}' must not be negative, got {value}")
    selected = [e for e in entries if matches_filter(e, text_filter)] if text_filter else list(entries)
    start = offset or 0
    page = selected[start:] if count is None else selected[start : start + count]
    expansion: dict[str, Any] = {
        "identifier": f"urn:uuid:{uuid.uuid4()}",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "total": len(selected),
        "offset": start,
    }
    echoed = _echo_parameters(text_filter, count, offset)
    if echoed:
        expansion["parameter"] = echoed
    if page:
        expansion["contains"] = [_contains(entry) for entry in page]
    result: dict[str, Any] = {"resourceType": "ValueSet"}
    result.update({key: value_set[key] for key in _KEPT_METADATA if key in value_set})
    result["expansion"] = expansion
    return result


def _echo_parameters(text_filter: str | None, count: int | None, offset: int | None) -> list[dict[str, Any]]:
    echoed: list[dict[str, Any]] = []
    if text_filter is not None:
        echoed.append({"name": "filter", "valueString": text_filter})
    if count is not None:
        echoed.append({"name": "count", "valueInteger": count})
    if offset is not None:
        echoed.append({"name": "offset", "valueInteger": offset})
    return echoed


def _contains(entry: ExpansionEntry) -> dict[str, Any]:
    item: dict[str, Any] = {"system": entry.system}
    if entry.version:
        item["version"] = entry.version
    item["code"] = entry.code
    if entry.display:
        item["display"] = entry.display
    return item
