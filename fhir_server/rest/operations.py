"""The FHIR operations this server implements, as data (fhir_server/rest/data/operations.json): the route
table makes their rows from it and the CapabilityStatement lists them from it
(https://hl7.org/fhir/R4/capabilitystatement-definitions.html#CapabilityStatement.rest.resource.operation)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

Level = Literal["system", "type", "instance"]
EVERY_TYPE = "*"


@dataclass(frozen=True)
class OperationDefinition:
    name: str  # without the `$`
    definition: str  # the OperationDefinition's canonical URL
    levels: tuple[Level, ...]
    resource_types: tuple[str, ...]  # ("*",): every stored type
    methods: tuple[str, ...]

    def applies_to(self, resource_type: str, stored_types: Iterable[str]) -> bool:
        if EVERY_TYPE in self.resource_types:
            return resource_type in stored_types
        return resource_type in self.resource_types

    @property
    def capability(self) -> dict[str, str]:
        return {"name": self.name, "definition": self.definition}


@cache
def operations() -> tuple[OperationDefinition, ...]:
    raw = json.loads(resources.files("fhir_server.rest").joinpath("data/operations.json").read_text())
    return tuple(
        OperationDefinition(
            name=o["name"],
            definition=o["definition"],
            levels=tuple(o["levels"]),
            resource_types=tuple(o["resourceTypes"]),
            methods=tuple(o["methods"]),
        )
        for o in raw["operations"]
    )


def operation(name: str, resource_type: str | None = None) -> OperationDefinition:
    """The definition of `$name` (on `resource_type`, when several types define one of that name)."""
    for candidate in operations():
        if candidate.name == name and (
            resource_type is None
            or EVERY_TYPE in candidate.resource_types
            or resource_type in candidate.resource_types
        ):
            return candidate
    raise KeyError(f"${name} is not in fhir_server/rest/data/operations.json")


def type_operations(
    stored_types: Iterable[str], extra_types: Iterable[str] = ()
) -> dict[str, list[dict[str, str]]]:
    """Operation capabilities by resource type, in the file's order (the CapabilityStatement's lists)."""
    stored = set(stored_types)
    by_type: dict[str, list[dict[str, str]]] = {}
    for resource_type in [*sorted(stored), *extra_types]:
        listed = [o.capability for o in operations() if o.applies_to(resource_type, stored)]
        if listed:
            by_type[resource_type] = listed
    return by_type
