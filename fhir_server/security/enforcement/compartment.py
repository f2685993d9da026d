"""The Patient compartment (https://hl7.org/fhir/R4/compartmentdefinition-patient.html) for our types.

Patient P's compartment holds Patient P itself and every ImagingStudy whose `subject` is Patient P.
Organization and Endpoint are not in any patient's compartment: they describe hospitals and their DICOMweb
services, not a person. Policy (documented in README): a `patient/` token may read and search them when its
scopes name them (`patient/Organization.rs`, `patient/Endpoint.rs`) — an app needs them to show which
hospital holds a study — but may never create, update or delete them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from fhir_server.resource_types import MODELS
from fhir_server.search.registry import SearchParam, parameters_of

# A trimmed R4 CompartmentDefinition, shipped with the search parameter definitions its params name.
DEFINITION_FILE = "compartmentdefinition-patient.json"
_CODE = "Patient"


class CompartmentDataError(ValueError):
    """The shipped compartment definition is unusable; the message names the entry."""


@dataclass(frozen=True)
class PatientCompartment:
    types: frozenset[str]
    # Per type in the compartment (other than Patient): the search parameters that name its patient, and the
    # reference elements of the resource they read.
    params: Mapping[str, tuple[str, ...]]
    references: Mapping[str, tuple[str, ...]]


def load_compartment(
    definition: object,
    resource_types: Collection[str] = tuple(MODELS),
    parameters: Callable[[str], Mapping[str, SearchParam]] = parameters_of,
) -> PatientCompartment:
    """Reads the CompartmentDefinition; every type we serve must be listed (with a param to be patient data,
    without to be in no compartment), so that a new type cannot become readable by `patient/` tokens, or
    stay out of their reach, by omission. Raises CompartmentDataError at the first problem."""
    where = DEFINITION_FILE
    if not isinstance(definition, dict) or definition.get("resourceType") != "CompartmentDefinition":
        raise CompartmentDataError(f"{where}: not a CompartmentDefinition")
    if definition.get("code") != _CODE:
        raise CompartmentDataError(f"{where}: code must be {_CODE!r}, not {definition.get('code')!r}")
    entries = definition.get("resource")
    if not isinstance(entries, list):
        raise CompartmentDataError(f"{where}: resource must be a list")
    types = {_CODE}
    params: dict[str, tuple[str, ...]] = {}
    references: dict[str, tuple[str, ...]] = {}
    listed: set[str] = set()
    for index, entry in enumerate(entries):
        code = entry.get("code") if isinstance(entry, dict) else None
        if not isinstance(code, str) or code not in resource_types:
            raise CompartmentDataError(
                f"{where}: resource[{index}]: code {code!r} is not a type this server serves"
            )
        if code in listed:
            raise CompartmentDataError(f"{where}: resource {code} is listed twice")
        listed.add(code)
        names = entry.get("param", [])
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            raise CompartmentDataError(f"{where}: resource {code}: param must be a list of names")
        if code == _CODE:
            # The compartment's own resource is in it by identity (`_id`), not through a reference.
            if names:
                raise CompartmentDataError(
                    f"{where}: resource {code}: params are not supported; Patient P's compartment holds P"
                )
            continue
        if not names:
            continue
        # compartment_criteria adds the param to a search's criteria, which all must hold: a second param
        # (the resource is in the compartment through either) cannot be said that way.
        if len(names) > 1:
            raise CompartmentDataError(f"{where}: resource {code}: one param at most, not {names}")
        param = parameters(code).get(names[0])
        if param is None or param.type != "reference" or _CODE not in param.targets:
            raise CompartmentDataError(
                f"{where}: resource {code}: param {names[0]!r} is not a reference search parameter of {code} "
                f"that can name a {_CODE}"
            )
        types.add(code)
        params[code] = (param.name,)
        references[code] = _reference_elements(code, param, f"{where}: resource {code}")
    missing = sorted(set(resource_types) - listed)
    if missing:
        raise CompartmentDataError(
            f"{where}: {missing} not listed (list each type we serve, with its param or without one)"
        )
    return PatientCompartment(frozenset(types), params, references)


def _reference_elements(resource_type: str, param: SearchParam, where: str) -> tuple[str, ...]:
    # patient_of reads top-level reference elements of the resource, so each path of the parameter's
    # expression must be one of those (the `where` narrowing to Patient is what _patient_id checks).
    path = re.compile(rf"^{re.escape(resource_type)}\.(\w+)(?:\.where\(resolve\(\) is {_CODE}\))?$")
    elements: list[str] = []
    for part in param.expression.split("|"):
        match = path.match(part.strip())
        if match is None:
            raise CompartmentDataError(
                f"{where}: {param.name}'s expression path {part.strip()!r} is not a reference element of "
                f"{resource_type}"
            )
        if match.group(1) not in elements:
            elements.append(match.group(1))
    return tuple(elements)


def _load() -> object:
    text = (files("fhir_server.search") / "data" / DEFINITION_FILE).read_text(encoding="utf-8")
    data: object = json.loads(text)
    return data


_COMPARTMENT = load_compartment(_load())
COMPARTMENT_TYPES = _COMPARTMENT.types
# The reference elements that put a resource in the compartment (from its CompartmentDefinition params).
_PATIENT_REFERENCES = _COMPARTMENT.references
_PATIENT_PARAMS = _COMPARTMENT.params


def is_patient_data(resource_type: str) -> bool:
    return resource_type in COMPARTMENT_TYPES


def patient_of(resource_type: str, resource: dict[str, Any], base_url: str) -> str | None:
    """The id of the patient whose compartment `resource` belongs to, or None."""
    if resource_type == "Patient":
        value = resource.get("id")
        return value if isinstance(value, str) else None
    for element in _PATIENT_REFERENCES.get(resource_type, ()):
        target = resource.get(element)
        if isinstance(target, dict):
            patient = _patient_id(target.get("reference"), base_url)
            if patient is not None:
                return patient
    return None


def compartment_criteria(resource_type: str, patient_id: str) -> list[tuple[str, str]]:
    """Search criteria that confine a search of `resource_type` to Patient `patient_id`'s compartment
    (the CompartmentDefinition's params); empty for types outside the compartment."""
    if resource_type == "Patient":
        return [("_id", patient_id)]
    return [(param, f"Patient/{patient_id}") for param in _PATIENT_PARAMS.get(resource_type, ())]


def in_compartment(resource_type: str, resource: dict[str, Any], patient_id: str, base_url: str) -> bool:
    return patient_of(resource_type, resource, base_url) == patient_id


def _patient_id(reference: object, base_url: str) -> str | None:
    """`Patient/P`, `Patient/P/_history/n` or `<our base>/Patient/P`; a reference to another server's
    Patient/P is a different person and never counts."""
    if not isinstance(reference, str):
        return None
    if reference.startswith(base_url.rstrip("/") + "/"):
        reference = reference[len(base_url.rstrip("/")) + 1 :]
    parts = reference.split("/")
    if (
        len(parts) in (2, 4)
        and parts[0] == "Patient"
        and parts[1]
        and (len(parts) == 2 or parts[2] == "_history")
    ):
        return parts[1]
    return None
