"""Pieces shared by several interactions."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from fhir_server.errors import FhirError, Issue, Problem
from fhir_server.resource_types import require_type, require_valid_id
from fhir_server.storage.repository import Repository, ResourceVersion
from fhir_server.type_aliases import JsonObject
from fhir_server.validation import ResourceChecker, validate_resource

_ETAG = re.compile(r'^\s*(?:W/)?"?([0-9]+)"?\s*$')


@dataclass(frozen=True)
class WriteRules:
    """Validation applied to every write: the R4B model plus pluggable checks (terminology bindings)."""

    checkers: Sequence[ResourceChecker] = ()

    def validate(self, data: JsonObject, *, model_checked: bool = False) -> tuple[JsonObject, list[Issue]]:
        return validate_resource(data, self.checkers, model_checked=model_checked)


def parse_version_etag(header: str, name: str = "If-Match") -> int:
    match = _ETAG.match(header)
    if match is None:
        raise FhirError(
            Problem.INVALID, f'{name} must be a version ETag such as W/"3", got {header[:40]!r}', [name]
        )
    return int(match.group(1))


def parse_version_id(version_id: str) -> int:
    if not version_id.isdigit() or len(version_id) > 18:
        raise FhirError(
            Problem.NOT_FOUND, f"Version '{version_id[:40]}' does not exist (versions are 1, 2, 3…)"
        )
    return int(version_id)


def check_target(resource_type: str, resource_id: str) -> None:
    require_type(resource_type)
    require_valid_id(resource_id)


def existing_version(repository: Repository, resource_type: str, resource_id: str) -> ResourceVersion:
    """The live current version, or 404 (never existed) / 410 (deleted)."""
    check_target(resource_type, resource_id)
    version = repository.read(resource_type, resource_id)
    if version is None:
        raise FhirError(Problem.NOT_FOUND, f"{resource_type}/{resource_id} does not exist")
    if version.deleted:
        raise FhirError(
            Problem.GONE,
            f"{resource_type}/{resource_id} was deleted (version {version.version})",
            headers={"ETag": version.etag},
        )
    return version


def conflict(resource_type: str, resource_id: str, expected: int | None, current: int | None) -> FhirError:
    current_text = "does not exist" if current is None else f"is at version {current}"
    expected_text = f"version {expected}" if expected is not None else "the version it read"
    return FhirError(
        Problem.PRECONDITION_FAILED,
        f"{resource_type}/{resource_id} {current_text}, not {expected_text}: it was changed by someone else; "
        "read it again and retry",
        ["If-Match"] if expected is not None else (),
    )
