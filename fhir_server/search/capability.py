"""The search part of the CapabilityStatement, generated from the registry: it lists exactly what works."""

from __future__ import annotations

from typing import Any

from fhir_server.search.registry import SEARCH_PARAMETERS, reference_parameters


def search_parameters() -> dict[str, list[dict[str, Any]]]:
    return {
        resource_type: [
            {"name": p.name, "definition": p.definition, "type": p.type, "documentation": p.description}
            for p in sorted(params.values(), key=lambda p: p.name)
        ]
        for resource_type, params in SEARCH_PARAMETERS.items()
    }


def search_includes() -> dict[str, list[str]]:
    return {
        resource_type: [
            "*",
            f"{resource_type}:*",
            *(f"{resource_type}:{p.name}" for p in reference_parameters(resource_type)),
        ]
        for resource_type in SEARCH_PARAMETERS
    }


def search_rev_includes() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {t: [] for t in SEARCH_PARAMETERS}
    for source in SEARCH_PARAMETERS:
        for param in reference_parameters(source):
            for target in param.targets:
                if target in found:
                    found[target].append(f"{source}:{param.name}")
    return {t: sorted(v) for t, v in found.items()}
