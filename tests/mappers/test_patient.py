from collections.abc import Callable
from typing import Any

import pytest
from fhir.resources.R4B.patient import Patient
from pydicom import Dataset

from mappers.imaging_study import patient_from_dicom_json

Json = dict[str, Any]
EN_REPRESENTATION = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation"


def el(vr: str, *value: Any) -> Json:
    return {"vr": vr, "Value": list(value)}


def map_patient(study: Json, issuer_system: str | None = None) -> Json:
    """The mapper under test, with every result checked against the R4B Patient model."""
    result = patient_from_dicom_json(study, issuer_system=issuer_system)
    Patient.model_validate(result)
    return result


def test_golden_patient_of_a_qido_study(golden: Callable[[str], Any]) -> None:
    given = golden("qido_ct_with_report.input.json")["study"]

    result = map_patient(given, issuer_system="urn:oid:1.2.826.0.1.3680043.10.1234.100")

    assert result == golden("qido_ct_with_report.patient.json")


def test_golden_patient_of_ct_small(
    golden: Callable[[str], Any], pydicom_file: Callable[[str], Dataset]
) -> None:
    result = map_patient(pydicom_file("CT_small.dcm").to_json_dict(), issuer_system="urn:oid:1.2.3.999")

    assert result == golden("ct_small.patient.json")


def test_golden_japanese_patient_with_three_name_representations(
    golden: Callable[[str], Any], pydicom_file: Callable[[str], Dataset]
) -> None:
    result = map_patient(pydicom_file("chrH31.dcm").to_json_dict())

    assert result == golden("chrH31.patient.json")


def test_non_ascii_latin_name(pydicom_file: Callable[[str], Dataset]) -> None:
    assert map_patient(pydicom_file("chrGerm.dcm").to_json_dict())["name"] == [
        {"family": "Äneas", "given": ["Rüdiger"]}
    ]


def test_name_with_all_five_components() -> None:
    study = {"00100010": el("PN", {"Alphabetic": "Müller^Zoë^Anna^Dr.^MD"})}

    assert map_patient(study)["name"] == [
        {"family": "Müller", "given": ["Zoë", "Anna"], "prefix": ["Dr."], "suffix": ["MD"]}
    ]


def test_ideographic_only_name_is_marked_as_ideographic() -> None:
    study = {"00100010": el("PN", {"Ideographic": "山田^太郎"})}

    assert map_patient(study)["name"] == [
        {"extension": [{"url": EN_REPRESENTATION, "valueCode": "IDE"}], "family": "山田", "given": ["太郎"]}
    ]


def test_family_name_only_and_empty_name() -> None:
    assert map_patient({"00100010": el("PN", {"Alphabetic": "Doe"})})["name"] == [{"family": "Doe"}]
    assert "name" not in map_patient({"00100010": el("PN", {"Alphabetic": "^^^^"})})
    assert "name" not in map_patient({"00100010": {"vr": "PN"}})


@pytest.mark.parametrize(
    ("sex", "gender"),
    [
        ("M", "male"),
        ("F", "female"),
        ("O", "other"),
        ("f", "female"),
        ("X", "unknown"),
        ("", None),
        (None, None),
    ],
)
def test_gender(sex: str | None, gender: str | None) -> None:
    study = {} if sex is None else {"00100040": el("CS", sex)}

    assert map_patient(study).get("gender") == gender


@pytest.mark.parametrize(("da", "birth_date"), [("19810212", "1981-02-12"), ("19810230", None), ("", None)])
def test_birth_date(da: str, birth_date: str | None) -> None:
    assert map_patient({"00100030": el("DA", da)}).get("birthDate") == birth_date


def test_identifier_system_from_issuer_of_patient_id_as_given() -> None:
    study = {"00100020": el("LO", "PID-1"), "00100021": el("LO", "urn:oid:1.2.3.100")}

    assert map_patient(study, issuer_system="urn:oid:9.9.9")["identifier"] == [
        {"system": "urn:oid:1.2.3.100", "value": "PID-1"}
    ]


def test_identifier_system_from_the_configured_issuer_when_the_study_has_none() -> None:
    study = {"00100020": el("LO", "PID-1")}

    assert map_patient(study, issuer_system="urn:oid:9.9.9")["identifier"] == [
        {"system": "urn:oid:9.9.9", "value": "PID-1"}
    ]


def test_identifier_without_any_issuer_has_no_system() -> None:
    assert map_patient({"00100020": el("LO", "PID-1")})["identifier"] == [{"value": "PID-1"}]


def test_issuer_text_with_spaces_is_the_assigner_not_the_system() -> None:
    study = {"00100020": el("LO", "PID-1"), "00100021": el("LO", "Klinikum Nord")}

    assert map_patient(study, issuer_system="urn:oid:9.9.9")["identifier"] == [
        {"system": "urn:oid:9.9.9", "value": "PID-1", "assigner": {"display": "Klinikum Nord"}}
    ]


def test_issuer_qualifiers_universal_id_is_preferred_as_system() -> None:
    qualifiers = {"00400032": el("UT", "1.2.3.100"), "00400033": el("CS", "ISO")}
    study = {
        "00100020": el("LO", "PID-1"),
        "00100021": el("LO", "KLIN_NORD"),
        "00100024": el("SQ", qualifiers),
    }

    assert map_patient(study, issuer_system="urn:oid:9.9.9")["identifier"] == [
        {"system": "urn:oid:1.2.3.100", "value": "PID-1", "assigner": {"display": "KLIN_NORD"}}
    ]


def test_no_patient_id_gives_no_identifier() -> None:
    assert map_patient({"00100020": {"vr": "LO"}}, issuer_system="urn:oid:9.9.9") == {
        "resourceType": "Patient"
    }
