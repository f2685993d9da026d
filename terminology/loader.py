"""Loading and validating the terminology resources shipped in `terminology/data/`.

Every `data/*.json` file is one FHIR resource, except `bindings.json`: the binding table that
`terminology.bindings` reads and validates itself.
"""

import json
from collections.abc import Iterable
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from terminology.errors import ShippedDataError

SUPPORTED_RESOURCE_TYPES = frozenset({"CodeSystem", "ValueSet", "ConceptMap", "NamingSystem"})
CANONICAL_RESOURCE_TYPES = frozenset({"CodeSystem", "ValueSet", "ConceptMap"})
BINDINGS_FILE = "bindings.json"  # not a FHIR resource: the bindings enforced on write


def data_file(name: str) -> Traversable:
    """A file shipped in `terminology/data/` (it works from a wheel or a zip as well as a checkout)."""
    return files("terminology") / "data" / name


def validate_resource(resource: dict[str, Any], origin: str, require_url: bool = True) -> None:
    """Raise ShippedDataError unless `resource` is a valid R4B resource of a supported type.

    Inline resources passed to an operation may lack a url; served ones may not.
    """
    resource_type = resource.get("resourceType")
    if resource_type not in SUPPORTED_RESOURCE_TYPES:
        raise ShippedDataError(f"{origin}: unsupported resourceType {resource_type!r}")
    try:
        get_fhir_model_class(resource_type).model_validate(resource)
    except ValidationError as exc:
        raise ShippedDataError(f"{origin}: not a valid R4B {resource_type}: {exc}") from exc
    if require_url and resource_type in CANONICAL_RESOURCE_TYPES and not resource.get("url"):
        raise ShippedDataError(f"{origin}: {resource_type} without a canonical url")


def check_unique(resources: Iterable[dict[str, Any]]) -> None:
    """Canonical URLs must be unique across types: `validate_code(url=...)` resolves either kind."""
    seen_ids: set[tuple[str, str]] = set()
    seen_urls: set[str] = set()
    for resource in resources:
        key = (resource["resourceType"], resource.get("id", ""))
        if key in seen_ids:
            raise ShippedDataError(f"duplicate resource {key[0]}/{key[1]}")
        seen_ids.add(key)
        url = resource.get("url")
        if url and resource["resourceType"] in CANONICAL_RESOURCE_TYPES:
            if url in seen_urls:
                raise ShippedDataError(f"duplicate canonical url {url}")
            seen_urls.add(url)


@cache
def load_shipped_resources() -> tuple[dict[str, Any], ...]:
    """All shipped resources, validated once per process (callers must not mutate them)."""
    data_dir = files("terminology") / "data"
    resources: list[dict[str, Any]] = []
    for entry in sorted(data_dir.iterdir(), key=lambda item: item.name):
        if not entry.name.endswith(".json") or entry.name == BINDINGS_FILE:
            continue
        resource = json.loads(entry.read_text(encoding="utf-8"))
        validate_resource(resource, entry.name)
        resources.append(resource)
    check_unique(resources)
    return tuple(resources)
