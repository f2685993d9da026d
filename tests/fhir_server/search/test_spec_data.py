"""The spec data shipped in fhir_server/search/data: the R4 SearchParameter Bundle with our overlay, and the
Patient CompartmentDefinition. Both are checked at import, and a broken entry stops the import with a message
that names it."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from importlib.resources import files
from typing import Any

import pytest

from fhir_server.resource_types import MODELS
from fhir_server.search.registry import (
    DEFINITIONS_FILE,
    OVERLAY_FILE,
    SEARCH_PARAMETERS,
    RegistryDataError,
    build_registry,
)
from fhir_server.security.enforcement import compartment
from fhir_server.security.enforcement.compartment import CompartmentDataError, load_compartment

Json = dict[str, Any]


def _shipped(name: str) -> Json:
    data: Json = json.loads((files("fhir_server.search") / "data" / name).read_text(encoding="utf-8"))
    return data


def _definition(bundle: Json, id_: str) -> Json:
    resource: Json = next(e["resource"] for e in bundle["entry"] if e["resource"]["id"] == id_)
    return resource


def test_the_registry_is_what_the_files_say() -> None:
    assert build_registry(_shipped(DEFINITIONS_FILE), _shipped(OVERLAY_FILE)) == SEARCH_PARAMETERS


def test_the_definitions_are_r4_search_parameters() -> None:
    bundle = _shipped(DEFINITIONS_FILE)
    assert bundle["resourceType"] == "Bundle"
    for entry in bundle["entry"]:
        resource = entry["resource"]
        assert entry["fullUrl"] == resource["url"] == f"http://hl7.org/fhir/SearchParameter/{resource['id']}"
        assert resource["version"] == "4.0.1"


def _drop_overlay_entry(_: Json, overlay: Json) -> None:
    del overlay["parameters"]["Patient.email"]


def _misspelt_decision(_: Json, overlay: Json) -> None:
    overlay["parameters"]["Patient.email"]["indexedAs"] = "telecom"


def _unknown_datatype(_: Json, overlay: Json) -> None:
    overlay["parameters"]["Patient.family"]["datatype"] = "Text"


def _expression_without_why(_: Json, overlay: Json) -> None:
    del overlay["parameters"]["ImagingStudy.modality"]["why"]


def _overlay_entry_without_definition(_: Json, overlay: Json) -> None:
    overlay["parameters"]["Patient.nickname"] = {"datatype": "string"}


def _unusable_indexed_as(_: Json, overlay: Json) -> None:
    overlay["parameters"]["Patient.email"]["indexed_as"] = "name"


def _unknown_type(bundle: Json, _: Json) -> None:
    _definition(bundle, "individual-family")["type"] = "text"


def _spec_expression_we_cannot_evaluate(_: Json, overlay: Json) -> None:
    # Without our expression, R4's `Patient.deceased.exists() and …` is used: not in our FHIRPath subset.
    overlay["parameters"]["Patient.deceased"].pop("expression")


def _base_we_do_not_serve(bundle: Json, _: Json) -> None:
    _definition(bundle, "individual-given")["base"] = ["Patient", "Practitioner"]


def _untrimmed_expression(bundle: Json, _: Json) -> None:
    _definition(bundle, "individual-given")["expression"] = "Patient.name.given | Practitioner.name.given"


def _reference_without_target(bundle: Json, _: Json) -> None:
    del _definition(bundle, "Patient-link")["target"]


def _second_definition(bundle: Json, _: Json) -> None:
    entry = copy.deepcopy(next(e for e in bundle["entry"] if e["resource"]["id"] == "Patient-name"))
    entry["resource"]["id"] = "Patient-name-2"
    entry["resource"]["url"] += "-2"
    bundle["entry"].append(entry)


def _unusable_code(bundle: Json, overlay: Json) -> None:
    _definition(bundle, "Patient-link")["code"] = "link:other"
    overlay["parameters"]["Patient.link:other"] = overlay["parameters"].pop("Patient.link")


@pytest.mark.parametrize(
    ("break_data", "message"),
    [
        (_drop_overlay_entry, "no entry 'Patient.email' for SearchParameter individual-email"),
        (_misspelt_decision, "parameters['Patient.email']: unknown fields ['indexedAs']"),
        (_unknown_datatype, "parameters['Patient.family']: datatype: 'Text' is not one of"),
        (_expression_without_why, "parameters['ImagingStudy.modality']: why"),
        (_overlay_entry_without_definition, "parameters ['Patient.nickname'] have no SearchParameter"),
        (_unusable_indexed_as, "Patient.email: indexed_as 'name' is unusable"),
        (_unknown_type, "SearchParameter individual-family: type: 'text' is not one of"),
        (_spec_expression_we_cannot_evaluate, "parameters['Patient.deceased']: expression"),
        (_base_we_do_not_serve, "SearchParameter individual-given: base 'Practitioner' is not one of"),
        (_untrimmed_expression, "individual-given: expression: path 'Practitioner.name.given'"),
        (_reference_without_target, "SearchParameter Patient-link: target"),
        (_second_definition, "SearchParameter Patient-name-2: a second definition of Patient.name"),
        (_unusable_code, "SearchParameter Patient-link: code 'link:other'"),
    ],
)
def test_broken_search_parameter_data_names_the_entry(
    break_data: Callable[[Json, Json], None], message: str
) -> None:
    bundle, overlay = _shipped(DEFINITIONS_FILE), _shipped(OVERLAY_FILE)
    break_data(bundle, overlay)
    with pytest.raises(RegistryDataError) as raised:
        build_registry(bundle, overlay)
    assert message in str(raised.value)


def test_the_patient_compartment() -> None:
    loaded = load_compartment(_shipped(compartment.DEFINITION_FILE))
    assert loaded.types == compartment.COMPARTMENT_TYPES == {"Patient", "ImagingStudy"}
    # ImagingStudy's `patient` parameter reads `subject`.
    assert dict(loaded.references) == {"ImagingStudy": ("subject",)}
    assert compartment.compartment_criteria("ImagingStudy", "p1") == [("patient", "Patient/p1")]
    assert compartment.compartment_criteria("Patient", "p1") == [("_id", "p1")]
    assert compartment.compartment_criteria("Organization", "p1") == []
    assert compartment.compartment_criteria("Endpoint", "p1") == []


def _entry(definition: Json, code: str) -> Json:
    entry: Json = next(e for e in definition["resource"] if e["code"] == code)
    return entry


def _unlisted_type(definition: Json) -> None:
    definition["resource"].remove(_entry(definition, "Endpoint"))


def _spec_patient_link(definition: Json) -> None:
    _entry(definition, "Patient")["param"] = ["link"]


def _type_we_do_not_serve(definition: Json) -> None:
    definition["resource"].append({"code": "Observation", "param": ["subject"]})


def _two_params(definition: Json) -> None:
    _entry(definition, "ImagingStudy")["param"] = ["patient", "subject"]


def _not_a_reference(definition: Json) -> None:
    _entry(definition, "ImagingStudy")["param"] = ["status"]


def _cannot_name_a_patient(definition: Json) -> None:
    _entry(definition, "ImagingStudy")["param"] = ["encounter"]


@pytest.mark.parametrize(
    ("break_data", "message"),
    [
        (_unlisted_type, "['Endpoint'] not listed"),
        (_spec_patient_link, "resource Patient: params are not supported"),
        (_type_we_do_not_serve, "code 'Observation' is not a type this server serves"),
        (_two_params, "resource ImagingStudy: one param at most"),
        (_not_a_reference, "resource ImagingStudy: param 'status' is not a reference search parameter"),
        (_cannot_name_a_patient, "resource ImagingStudy: param 'encounter' is not a reference search"),
    ],
)
def test_broken_compartment_data_names_the_entry(break_data: Callable[[Json], None], message: str) -> None:
    definition = _shipped(compartment.DEFINITION_FILE)
    break_data(definition)
    with pytest.raises(CompartmentDataError) as raised:
        load_compartment(definition, tuple(MODELS))
    assert message in str(raised.value)


def test_a_compartment_param_must_read_a_reference_element() -> None:
    # A parameter whose expression goes deeper than a top-level reference cannot be followed by patient_of.
    registry = build_registry(_shipped(DEFINITIONS_FILE), _shipped(OVERLAY_FILE))
    definition = _shipped(compartment.DEFINITION_FILE)
    _entry(definition, "ImagingStudy")["param"] = ["performer"]
    with pytest.raises(CompartmentDataError) as raised:
        load_compartment(definition, tuple(MODELS), lambda resource_type: registry.get(resource_type, {}))
    assert "performer's expression path 'ImagingStudy.series.performer.actor'" in str(raised.value)
