"""The resource types this server stores, with their `fhir.resources` R4B models."""

from __future__ import annotations

import re

from fhir.resources.R4B.endpoint import Endpoint
from fhir.resources.R4B.imagingstudy import ImagingStudy
from fhir.resources.R4B.organization import Organization
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.resource import Resource

from fhir_server.errors import FhirError, Problem

MODELS: dict[str, type[Resource]] = {
    "Organization": Organization,
    "Patient": Patient,
    "ImagingStudy": ImagingStudy,
    "Endpoint": Endpoint,
}

# https://hl7.org/fhir/R4/datatypes.html#id
ID_PATTERN = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


def require_type(resource_type: str) -> type[Resource]:
    model = MODELS.get(resource_type)
    if model is None:
        raise FhirError(
            Problem.NOT_SUPPORTED,
            f"Resource type '{resource_type}' is not supported by this server "
            f"(supported: {', '.join(sorted(MODELS))})",
        )
    return model


def require_valid_id(resource_id: str, expression: str = "id") -> str:
    if not ID_PATTERN.match(resource_id):
        raise FhirError(
            Problem.INVALID,
            f"Invalid resource id '{resource_id[:80]}': 1-64 characters of A-Z, a-z, 0-9, '-' and '.'",
            [expression],
        )
    return resource_id
