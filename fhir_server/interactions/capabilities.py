"""capabilities: GET [base]/metadata (https://hl7.org/fhir/R4/http.html#capabilities).

The CapabilityStatement is generated from what the code registers (resource types, interactions, search
parameters, operations), never written by hand, so it cannot claim what the server does not do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fhir_server import __version__
from fhir_server.interactions import delete
from fhir_server.resource_types import MODELS


@dataclass
class Capabilities:
    """What optional features are wired in. The interaction and operation lists come from the route table
    (fhir_server.rest.routes `capability_fields`), so the statement lists exactly what is routed."""

    type_interactions: Sequence[str] = ()
    system_interactions: Sequence[str] = ()

    search_parameters: Mapping[str, Sequence[Mapping[str, Any]]] = field(default_factory=dict)
    search_include: Mapping[str, Sequence[str]] = field(default_factory=dict)
    search_rev_include: Mapping[str, Sequence[str]] = field(default_factory=dict)
    conditional_create: bool = False
    conditional_update: bool = False
    conditional_delete: str = "not-supported"
    system_operations: list[Mapping[str, Any]] = field(default_factory=list)
    type_operations: Mapping[str, list[Mapping[str, Any]]] = field(default_factory=dict)
    read_only_types: Sequence[str] = ()
    read_only_search_parameters: Sequence[tuple[str, str]] = ()
    # rest.security; a function of the FHIR base URL because it names absolute OAuth endpoint URLs.
    security: Callable[[str], Mapping[str, Any]] | None = None
    # rest.resource entries of types a feature serves itself (Subscription, SubscriptionTopic).
    feature_resources: Sequence[Mapping[str, Any]] = ()


def capability_statement(caps: Capabilities, base_url: str) -> dict[str, Any]:
    resources = []
    for resource_type in sorted(MODELS):
        params = list(caps.search_parameters.get(resource_type, ()))
        # search-type only where the type has search parameters to search by.
        interactions = [c for c in caps.type_interactions if c != "search-type" or params]
        entry: dict[str, Any] = {
            "type": resource_type,
            "profile": f"http://hl7.org/fhir/StructureDefinition/{resource_type}",
            "documentation": delete.POLICY,
            "interaction": [{"code": code} for code in interactions],
            "versioning": "versioned-update",
            "readHistory": True,
            "updateCreate": True,
            "conditionalCreate": caps.conditional_create,
            "conditionalRead": "modified-since",
            "conditionalUpdate": caps.conditional_update,
            "conditionalDelete": caps.conditional_delete,
        }
        if params:
            entry["searchInclude"] = list(caps.search_include.get(resource_type, ()))
            entry["searchRevInclude"] = list(caps.search_rev_include.get(resource_type, ()))
            entry["searchParam"] = params
        if caps.type_operations.get(resource_type):
            entry["operation"] = caps.type_operations[resource_type]
        resources.append(entry)
    for resource_type in caps.read_only_types:
        read_only: dict[str, Any] = {
            "type": resource_type,
            "documentation": "Read-only: ships with the server's terminology.",
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": [{"name": name, "type": kind} for name, kind in caps.read_only_search_parameters],
        }
        if caps.type_operations.get(resource_type):
            read_only["operation"] = list(caps.type_operations[resource_type])
        resources.append(read_only)
    resources.extend(dict(r) for r in caps.feature_resources)
    rest: dict[str, Any] = {
        "mode": "server",
        "documentation": "JSON only (application/fhir+json). " + delete.POLICY,
        "resource": resources,
        "interaction": [{"code": code} for code in caps.system_interactions],
    }
    if caps.security is not None:
        rest["security"] = caps.security(base_url)
    if caps.system_operations:
        rest["operation"] = caps.system_operations
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": datetime.now(UTC).date().isoformat(),
        "publisher": "Imaging Federation",
        "kind": "instance",
        "software": {"name": "imaging-federation-fhir", "version": __version__},
        "implementation": {"description": "Imaging federation FHIR server", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "patchFormat": ["application/json-patch+json", "application/merge-patch+json"],
        "rest": [rest],
    }
