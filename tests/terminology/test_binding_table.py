"""data/bindings.json: the rows are what check_bindings applies, and a malformed row fails at load."""

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from terminology import LocalTerminology, systems
from terminology import bindings as bindings_module
from terminology.bindings import (
    Binding,
    BindingIssue,
    Step,
    bindings_for,
    check_bindings,
    load_bindings,
    locate,
    parse_bindings,
)
from terminology.errors import ShippedDataError
from terminology.loader import load_shipped_resources

DCM = systems.DCM_SYSTEM

GENDER_ROW: dict[str, Any] = {
    "path": "Patient.gender",
    "type": "code",
    "strength": "required",
    "baseStrength": "required",
    "valueSet": systems.ADMINISTRATIVE_GENDER_VALUESET,
    "system": systems.ADMINISTRATIVE_GENDER_SYSTEM,
    "accepts": "value-set",
}
MODALITY_ROW: dict[str, Any] = {
    "path": "ImagingStudy.series[*].modality",
    "type": "Coding",
    "strength": "extensible",
    "baseStrength": "extensible",
    "valueSet": systems.DICOM_CID29_VALUESET,
    "system": DCM,
    "accepts": "code-system",
    "label": "modality",
    "systemLabel": "DICOM",
    "comment": "any DCM code",
}


def _table(*rows: Any) -> dict[str, Any]:
    return {"description": "test table", "bindings": list(rows)}


def _only(path: str) -> Binding:
    return next(b for rows in load_bindings().values() for b in rows if b.path == path)


# --- The shipped table ---


def test_the_shipped_table_lists_every_enforced_binding() -> None:
    rows = [
        (b.path, b.type, b.strength, b.base_strength, b.value_set, b.system, b.accepts)
        for rows in load_bindings().values()
        for b in rows
    ]
    assert rows == [
        (
            "Patient.gender",
            "code",
            "required",
            "required",
            systems.ADMINISTRATIVE_GENDER_VALUESET,
            systems.ADMINISTRATIVE_GENDER_SYSTEM,
            "value-set",
        ),
        (
            "Patient.contact[*].gender",
            "code",
            "required",
            "required",
            systems.ADMINISTRATIVE_GENDER_VALUESET,
            systems.ADMINISTRATIVE_GENDER_SYSTEM,
            "value-set",
        ),
        (
            "ImagingStudy.status",
            "code",
            "required",
            "required",
            systems.IMAGINGSTUDY_STATUS_VALUESET,
            systems.IMAGINGSTUDY_STATUS_SYSTEM,
            "value-set",
        ),
        (
            "ImagingStudy.modality[*]",
            "Coding",
            "extensible",
            "extensible",
            systems.DICOM_CID29_VALUESET,
            DCM,
            "code-system",
        ),
        (
            "ImagingStudy.series[*].modality",
            "Coding",
            "extensible",
            "extensible",
            systems.DICOM_CID29_VALUESET,
            DCM,
            "code-system",
        ),
        (
            "Endpoint.status",
            "code",
            "required",
            "required",
            systems.ENDPOINT_STATUS_VALUESET,
            systems.ENDPOINT_STATUS_SYSTEM,
            "value-set",
        ),
        (
            "Endpoint.connectionType",
            "Coding",
            "required",
            "extensible",
            systems.ENDPOINT_CONNECTION_TYPE_VALUESET,
            systems.ENDPOINT_CONNECTION_TYPE_SYSTEM,
            "value-set",
        ),
    ]


def test_local_decisions_say_why() -> None:
    connection_type = _only("Endpoint.connectionType")
    assert (connection_type.strength, connection_type.base_strength) == ("required", "extensible")
    assert "protocol" in connection_type.comment
    for path in ("ImagingStudy.modality[*]", "ImagingStudy.series[*].modality"):
        modality = _only(path)
        assert (modality.label, modality.system_label) == ("modality", "DICOM")
        assert "Any known DCM code is accepted" in modality.comment


def test_every_row_names_a_shipped_value_set_drawing_on_its_code_system() -> None:
    by_url = {r["url"]: r for r in load_shipped_resources() if "url" in r}
    for rows in load_bindings().values():
        for binding in rows:
            value_set, code_system = by_url[binding.value_set], by_url[binding.system]
            assert (value_set["resourceType"], code_system["resourceType"]) == ("ValueSet", "CodeSystem")
            assert [i["system"] for i in value_set["compose"]["include"]] == [binding.system], binding.path


def test_the_table_is_read_once() -> None:
    assert load_bindings() is load_bindings()
    assert bindings_for("ImagingStudy") is bindings_for("ImagingStudy")


def test_a_resource_type_without_rows_has_no_bindings(service: LocalTerminology) -> None:
    assert bindings_for("Organization") == ()
    assert bindings_for("Observation") == ()
    assert check_bindings({"resourceType": "Observation", "status": "not-a-status"}, service) == []
    assert check_bindings({"gender": "F"}, service) == []


# --- The walker ---


def test_a_path_reaches_every_element_with_real_indexes() -> None:
    study = {
        "resourceType": "ImagingStudy",
        "modality": [{"code": "CT"}, "MR", {"code": "SR"}],
        "series": [
            {"modality": {"code": "CT"}},
            "not a series",
            {"uid": "1.2"},
            {"modality": {"code": "SEG"}},
        ],
    }
    assert list(locate(study, _only("ImagingStudy.series[*].modality"))) == [
        ("ImagingStudy.series[0].modality", {"code": "CT"}),
        ("ImagingStudy.series[2].modality", None),
        ("ImagingStudy.series[3].modality", {"code": "SEG"}),
    ]
    # A leaf value of the wrong shape is located, then skipped by the check: the model reports it.
    assert [e for e, _ in locate(study, _only("ImagingStudy.modality[*]"))] == [
        "ImagingStudy.modality[0]",
        "ImagingStudy.modality[1]",
        "ImagingStudy.modality[2]",
    ]
    assert list(locate(study, _only("ImagingStudy.status"))) == [("ImagingStudy.status", None)]


def test_a_repeat_that_is_not_a_list_is_not_walked() -> None:
    patient = {"resourceType": "Patient", "contact": {"gender": "x"}}
    assert list(locate(patient, _only("Patient.contact[*].gender"))) == []


def test_the_rows_are_what_check_bindings_applies(
    service: LocalTerminology, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Drop Patient.contact[*].gender and bind Person.gender: the walker follows the table alone.
    person_gender = {**GENDER_ROW, "path": "Person.gender"}
    table = parse_bindings(_table(GENDER_ROW, person_gender), "test")
    monkeypatch.setattr(bindings_module, "load_bindings", lambda: table)
    patient = {"resourceType": "Patient", "gender": "female", "contact": [{"gender": "x"}]}
    assert check_bindings(patient, service) == []
    (issue,) = check_bindings({"resourceType": "Person", "gender": "F"}, service)
    assert issue == BindingIssue(
        "error",
        "Person.gender",
        "Person.gender: 'F' is not in the required value set "
        "http://hl7.org/fhir/ValueSet/administrative-gender (allowed: male | female | other | unknown)",
    )
    assert check_bindings({"resourceType": "ImagingStudy", "status": "final"}, service) == []


def test_labels_come_from_the_row(service: LocalTerminology, monkeypatch: pytest.MonkeyPatch) -> None:
    row = {**MODALITY_ROW, "label": "series modality", "systemLabel": "DCM"}
    table = parse_bindings(_table(row), "test")
    monkeypatch.setattr(bindings_module, "load_bindings", lambda: table)
    study = {
        "resourceType": "ImagingStudy",
        "series": [
            {"modality": {"system": "urn:x", "code": "CT"}},
            {"modality": {"system": DCM, "code": "CAT"}},
        ],
    }
    first, second = check_bindings(study, service)
    assert first.diagnostics == (
        "ImagingStudy.series[0].modality: series modality system 'urn:x' is not "
        f"{DCM} (extensible binding to {systems.DICOM_CID29_VALUESET})"
    )
    assert second.diagnostics.startswith(
        "ImagingStudy.series[1].modality: 'CAT' is not a known DCM series modality code ("
    )


# --- Validation at load ---


def test_a_valid_table_parses_into_steps() -> None:
    (binding,) = parse_bindings(_table(MODALITY_ROW), "test")["ImagingStudy"]
    assert binding.resource_type == "ImagingStudy"
    assert binding.steps == (Step("series", True), Step("modality", False))
    assert binding.severity == "warning"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("Patient.gender", r"test bindings\[1\]: expected an object, got str"),
        (
            {**GENDER_ROW, "strenght": "required"},
            r"bindings\[1\] \(Patient\.gender\): unknown field\(s\) strenght",
        ),
        (
            {k: v for k, v in GENDER_ROW.items() if k != "valueSet"},
            r"\(Patient\.gender\): missing field\(s\) valueSet",
        ),
        ({**GENDER_ROW, "system": ""}, r"\(Patient\.gender\): system must be a non-empty string"),
        ({**GENDER_ROW, "comment": 3}, r"\(Patient\.gender\): comment must be a non-empty string"),
        (
            {**GENDER_ROW, "strength": "preferred"},
            r"strength must be one of required, extensible, got 'preferred'",
        ),
        (
            {**GENDER_ROW, "type": "CodeableConcept"},
            r"type must be one of code, Coding, got 'CodeableConcept'",
        ),
        (
            {**GENDER_ROW, "path": "patient.gender"},
            r"\(patient\.gender\): path must be ResourceType\.element",
        ),
        ({**GENDER_ROW, "path": "Patient"}, r"\(Patient\): path must be ResourceType\.element"),
        (
            {**GENDER_ROW, "path": "Patient.contact[0].gender"},
            r"path step 'contact\[0\]' is not an element name",
        ),
        ({**GENDER_ROW, "path": "Patient..gender"}, r"path step '' is not an element name"),
        (
            {**GENDER_ROW, "strength": "extensible", "baseStrength": "extensible"},
            r"\(Patient\.gender\): type code, strength extensible, accepts value-set is not implemented",
        ),
        (
            {k: v for k, v in MODALITY_ROW.items() if k != "systemLabel"},
            r"accepts code-system needs label and systemLabel",
        ),
        (
            {**GENDER_ROW, "label": "gender"},
            r"label and systemLabel are only used when accepts is code-system",
        ),
        (
            {**GENDER_ROW, "baseStrength": "extensible"},
            r"\(Patient\.gender\): a local decision .* needs a comment",
        ),
        ({k: v for k, v in MODALITY_ROW.items() if k != "comment"}, r"a local decision .* needs a comment"),
        (GENDER_ROW, r"test bindings\[1\] \(Patient\.gender\): duplicate path"),
    ],
)
def test_a_malformed_row_fails_at_load_naming_the_row(row: Any, message: str) -> None:
    with pytest.raises(ShippedDataError, match=message):
        parse_bindings(_table(GENDER_ROW, row), "test")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([GENDER_ROW], r'test: expected an object with a "bindings" list'),
        ({"bindings": {"Patient.gender": GENDER_ROW}}, r'test: expected an object with a "bindings" list'),
        ({"bindings": [], "rows": []}, r"test: unknown top-level field\(s\) rows"),
    ],
)
def test_a_malformed_table_fails_at_load(document: Any, message: str) -> None:
    with pytest.raises(ShippedDataError, match=message):
        parse_bindings(document, "test")


def test_load_bindings_names_the_shipped_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = tmp_path / "bindings.json"
    monkeypatch.setattr(bindings_module, "data_file", lambda name: tmp_path / name)
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(ShippedDataError, match=r"bindings\.json: not valid JSON"):
        load_bindings.__wrapped__()
    broken.write_text(json.dumps(_table({**GENDER_ROW, "strength": "preferred"})), encoding="utf-8")
    with pytest.raises(ShippedDataError, match=r"bindings\.json bindings\[0\] \(Patient\.gender\): strength"):
        load_bindings.__wrapped__()


def test_the_parsed_table_is_read_only() -> None:
    table: Mapping[str, tuple[Binding, ...]] = parse_bindings(_table(GENDER_ROW), "test")
    with pytest.raises(TypeError):
        table["Patient"] = ()  # type: ignore[index]  # the point: a shared cached table cannot change
