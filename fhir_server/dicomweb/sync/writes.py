"""Writing a resource only when its content changed, so that re-running a sync or a registration creates no
new versions (https://hl7.org/fhir/R4/http.html#update: update-as-create with a client-chosen id).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from fhir_server.storage.repository import ResourceStore, ResourceVersion, VersionConflict
from fhir_server.type_aliases import JsonObject
from fhir_server.validation import validate_resource
from mappers.fhir_json import content

WriteOutcome = Literal["created", "updated", "unchanged"]

_ATTEMPTS = 3


def merged(existing: JsonObject | None, produced: JsonObject, owned: Iterable[str]) -> JsonObject:
    """`produced`, plus the elements of `existing` that the producer does not own.

    Lets a FHIR client add e.g. ImagingStudy.basedOn or interpreter to a synced study without the next sync
    erasing it, while an element the producer owns but no longer produces (a description removed in the
    PACS) does disappear.
    """
    kept = {} if existing is None else {k: v for k, v in content(existing).items() if k not in set(owned)}
    return {**kept, **produced}


def write_if_changed(repository: ResourceStore, resource: JsonObject) -> tuple[WriteOutcome, ResourceVersion]:
    """Validate against the R4B model, then write a new version unless the stored one has the same content.

    Raises FhirError when the resource is not valid FHIR. A concurrent writer is retried, not overwritten.
    """
    normalized, _ = validate_resource(resource)
    resource_type, resource_id = normalized["resourceType"], normalized["id"]
    for _attempt in range(_ATTEMPTS):
        current = repository.read(resource_type, resource_id)
        live = current is not None and not current.deleted and current.resource is not None
        if live and current is not None and content(current.resource or {}) == content(normalized):
            return "unchanged", current
        try:
            version, created = repository.update(
                normalized, expected_version=current.version if live and current is not None else None
            )
        except VersionConflict:
            continue
        return ("created" if created else "updated"), version
    raise VersionConflict(None)
