"""LocalTerminology against the FHIR R4 operation semantics, using the spec's own examples."""

from typing import Any

import pytest
from fhir.resources.R4B.valueset import ValueSet

from terminology import LocalTerminology, TerminologyError, TerminologyService
from terminology.loader import load_shipped_resources

DCM = "http://dicom.nema.org/resources/ontology/DCM"
CID29 = "http://hl7.org/fhir/ValueSet/dicom-cid29"
GENDER_CS = "http://hl7.org/fhir/administrative-gender"
GENDER_VS = "http://hl7.org/fhir/ValueSet/administrative-gender"
LEGACY = "https://fhir.imaging-federation.example/CodeSystem/legacy-modality"
LEGACY_MAP = "https://fhir.imaging-federation.example/ConceptMap/legacy-modality-to-dcm"
MAP_SOURCE_VS = "https://fhir.imaging-federation.example/ValueSet/legacy-modality"


def _codes(expanded: dict[str, Any]) -> list[str]:
    return [item["code"] for item in expanded["expansion"].get("contains", [])]


def _matches(result: Any) -> list[tuple[str, str]]:
    return [(m.concept["code"], m.equivalence) for m in result.matches]


def test_implements_the_protocol(service: LocalTerminology) -> None:
    assert isinstance(service, TerminologyService)


# --- $lookup -----------------------------------------------------------------------------------


def test_lookup_administrative_gender_male(service: LocalTerminology) -> None:
    result = service.lookup(GENDER_CS, "male")
    assert result is not None
    assert (result.name, result.version, result.display, result.definition) == (
        "AdministrativeGender",
        "4.0.1",
        "Male",
        "Male.",
    )


def test_lookup_unknown_code_is_none_and_unknown_system_is_not_found(service: LocalTerminology) -> None:
    assert service.lookup(GENDER_CS, "mal") is None
    with pytest.raises(TerminologyError) as caught:
        service.lookup("http://example.org/nothing", "x")
    assert caught.value.code == "not-found"


def test_lookup_rejects_a_version_the_server_does_not_have(service: LocalTerminology) -> None:
    with pytest.raises(TerminologyError, match=r"version 3\.0\.1") as caught:
        service.lookup(GENDER_CS, "male", version="3.0.1")
    assert caught.value.code == "not-found"


def test_lookup_returns_only_requested_properties(service: LocalTerminology) -> None:
    result = service.lookup(DCM, "PT", properties=["designation"])
    assert result is not None
    assert result.display == "Positron emission tomography (PET)"
    assert [d.value for d in result.designations] == ["Positron emission tomography"]
    only_definition = service.lookup(GENDER_CS, "female", properties=["definition"])
    assert only_definition is not None and only_definition.definition == "Female."
    assert service.lookup(GENDER_CS, "female", properties=["parent"]).definition is None  # type: ignore[union-attr]


def test_lookup_of_legacy_text_ignores_case_and_separators(service: LocalTerminology) -> None:
    result = service.lookup(LEGACY, "xray")
    assert result is not None and result.code == "X-Ray"


def test_dcm_is_case_sensitive(service: LocalTerminology) -> None:
    assert service.lookup(DCM, "ct") is None


# --- $validate-code ----------------------------------------------------------------------------


def test_cid29_accepts_ct(service: LocalTerminology) -> None:
    result = service.validate_code(url=CID29, system=DCM, code="CT")
    assert (result.result, result.message, result.display) == (True, None, "Computed Tomography")


def test_cid29_rejects_sr_which_is_not_an_acquisition_modality(service: LocalTerminology) -> None:
    result = service.validate_code(url=CID29, system=DCM, code="SR")
    assert result.result is False
    assert result.message == (
        "The code 'SR' from system http://dicom.nema.org/resources/ontology/DCM is not in the value set "
        "http://hl7.org/fhir/ValueSet/dicom-cid29"
    )


def test_wrong_display_makes_result_false_and_returns_the_right_display(service: LocalTerminology) -> None:
    # Documented choice: R4 result means "the concept details supplied are valid", display included.
    result = service.validate_code(url=CID29, system=DCM, code="CT", display="Cat scan")
    assert result.result is False
    assert result.display == "Computed Tomography"
    assert result.message == (
        "The display 'Cat scan' is not a valid display for "
        "http://dicom.nema.org/resources/ontology/DCM#CT; expected 'Computed Tomography'"
    )


@pytest.mark.parametrize("display", ["computed  tomography", "COMPUTED TOMOGRAPHY"])
def test_display_comparison_ignores_case_and_spacing(service: LocalTerminology, display: str) -> None:
    assert service.validate_code(url=CID29, system=DCM, code="CT", display=display).result is True


def test_synonym_designation_is_an_acceptable_display(service: LocalTerminology) -> None:
    assert service.validate_code(
        url=CID29, system=DCM, code="PT", display="Positron emission tomography"
    ).result


def test_system_is_inferred_only_for_single_system_value_sets(service: LocalTerminology) -> None:
    assert service.validate_code(url=GENDER_VS, code="male").result is True
    assert service.validate_code(url=GENDER_VS, code="Male").result is False


def test_coding_and_codeable_concept(service: LocalTerminology) -> None:
    coding = {"system": GENDER_CS, "code": "female", "display": "Female"}
    assert service.validate_code(url=GENDER_VS, coding=coding).result is True
    concept = {"coding": [{"system": "http://snomed.info/sct", "code": "248153007"}, coding]}
    result = service.validate_code(url=GENDER_VS, codeable_concept=concept)
    assert (result.result, result.display) == (True, "Female")
    bad = service.validate_code(
        url=GENDER_VS, codeable_concept={"coding": [{"system": GENDER_CS, "code": "f"}]}
    )
    assert bad.result is False


def test_validate_against_a_code_system_url(service: LocalTerminology) -> None:
    assert service.validate_code(url=DCM, code="SR").result is True
    unknown = service.validate_code(url=DCM, code="ZZZ")
    assert unknown.result is False
    assert unknown.message == (
        "Unknown code 'ZZZ' in CodeSystem http://dicom.nema.org/resources/ontology/DCM "
        "(this server holds only a fragment of that code system)"
    )
    assert service.validate_code(system=GENDER_CS, code="other").result is True


def test_validate_with_an_inline_value_set(service: LocalTerminology) -> None:
    value_set = {
        "resourceType": "ValueSet",
        "status": "active",
        "compose": {"include": [{"system": DCM, "concept": [{"code": "CT"}, {"code": "MR"}]}]},
    }
    assert service.validate_code(value_set=value_set, system=DCM, code="MR").result is True
    assert service.validate_code(value_set=value_set, system=DCM, code="US").result is False


def test_validate_code_errors(service: LocalTerminology) -> None:
    with pytest.raises(TerminologyError) as not_found:
        service.validate_code(url="http://example.org/ValueSet/none", system=DCM, code="CT")
    assert not_found.value.code == "not-found"
    with pytest.raises(TerminologyError, match="Exactly one of code, coding or codeableConcept") as both:
        service.validate_code(url=CID29, code="CT", coding={"system": DCM, "code": "CT"})
    assert both.value.code == "invalid"


# --- $expand -----------------------------------------------------------------------------------


def test_expand_administrative_gender(service: LocalTerminology) -> None:
    expanded = service.expand(GENDER_VS)
    assert expanded["expansion"]["total"] == 4
    assert expanded["expansion"]["contains"] == [
        {"system": GENDER_CS, "version": "4.0.1", "code": "male", "display": "Male"},
        {"system": GENDER_CS, "version": "4.0.1", "code": "female", "display": "Female"},
        {"system": GENDER_CS, "version": "4.0.1", "code": "other", "display": "Other"},
        {"system": GENDER_CS, "version": "4.0.1", "code": "unknown", "display": "Unknown"},
    ]
    ValueSet.model_validate(expanded)


def test_expand_filter_tomo_finds_ct(service: LocalTerminology) -> None:
    expanded = service.expand(CID29, filter="tomo")
    assert _codes(expanded) == ["CT", "IVOCT", "OCT", "OPT", "OPTBSV", "OPTENF", "PT"]
    assert expanded["expansion"]["total"] == 7
    assert expanded["expansion"]["parameter"] == [{"name": "filter", "valueString": "tomo"}]


def test_expand_filter_matches_word_starts_not_substrings(service: LocalTerminology) -> None:
    assert _codes(service.expand(CID29, filter="ct")) == ["CT"]
    assert _codes(service.expand(CID29, filter="x-ray angio")) == ["XA"]


def test_expand_paging_reports_total_and_offset(service: LocalTerminology) -> None:
    page = service.expand(CID29, count=10, offset=30)
    assert page["expansion"]["total"] == 38
    assert page["expansion"]["offset"] == 30
    assert _codes(page) == ["PT", "RF", "RG", "SM", "SRF", "US", "VA", "XA"]
    assert page["expansion"]["parameter"] == [
        {"name": "count", "valueInteger": 10},
        {"name": "offset", "valueInteger": 30},
    ]
    first = service.expand(CID29, count=3)
    assert _codes(first) == ["AR", "BMD", "BDUS"]
    assert "contains" not in service.expand(CID29, count=0)["expansion"]
    ValueSet.model_validate(page)


def test_expand_errors(service: LocalTerminology) -> None:
    with pytest.raises(TerminologyError) as negative:
        service.expand(CID29, count=-1)
    assert negative.value.code == "invalid"
    with pytest.raises(TerminologyError) as unknown:
        service.expand("http://example.org/ValueSet/none")
    assert unknown.value.code == "not-found"


def test_unsupported_compose_fails_only_for_its_own_value_set() -> None:
    filtered = {
        "resourceType": "ValueSet",
        "id": "filtered",
        "url": "urn:test:filtered",
        "status": "active",
        "compose": {
            "include": [{"system": DCM, "filter": [{"property": "concept", "op": "is-a", "value": "CT"}]}]
        },
    }
    local = LocalTerminology([*load_shipped_resources(), filtered])
    with pytest.raises(TerminologyError) as caught:
        local.expand("urn:test:filtered")
    assert caught.value.code == "not-supported"
    assert local.validate_code(url=CID29, system=DCM, code="CT").result is True


# --- $translate --------------------------------------------------------------------------------


def test_translate_x_ray_to_digital_and_computed_radiography(service: LocalTerminology) -> None:
    result = service.translate(url=LEGACY_MAP, system=LEGACY, code="X-Ray")
    assert result.result is True
    assert _matches(result) == [("DX", "narrower"), ("CR", "narrower")]
    assert result.matches[0].concept == {"system": DCM, "code": "DX", "display": "Digital Radiography"}
    assert result.matches[0].source == LEGACY_MAP


@pytest.mark.parametrize("spelling", ["Xray", "x-ray", "X RAY"])
def test_translate_normalises_legacy_spellings(service: LocalTerminology, spelling: str) -> None:
    assert _matches(service.translate(system=LEGACY, code=spelling)) == [
        ("DX", "narrower"),
        ("CR", "narrower"),
    ]


def test_translate_lowercase_ct(service: LocalTerminology) -> None:
    result = service.translate(url=LEGACY_MAP, system=LEGACY, code="ct")
    assert (result.result, result.message, _matches(result)) == (True, None, [("CT", "equivalent")])


def test_translate_pet_ct_gives_both_modalities(service: LocalTerminology) -> None:
    assert _matches(service.translate(system=LEGACY, code="PET/CT")) == [("PT", "wider"), ("CT", "wider")]


def test_translate_unmapped_value(service: LocalTerminology) -> None:
    result = service.translate(url=LEGACY_MAP, system=LEGACY, code="Thermography")
    assert (result.result, result.matches) == (False, ())
    assert result.message == (
        "No mapping found for code 'Thermography' from system "
        "https://fhir.imaging-federation.example/CodeSystem/legacy-modality"
    )


def test_translate_reverse_inverts_equivalence(service: LocalTerminology) -> None:
    result = service.translate(system=DCM, code="CT", reverse=True)
    assert _matches(result) == [
        ("CT", "equivalent"),
        ("Computed Tomography", "equivalent"),
        ("PET-CT", "narrower"),
    ]


def test_translate_map_selection_by_value_sets(service: LocalTerminology) -> None:
    assert service.translate(system=LEGACY, code="MRI", source=MAP_SOURCE_VS, target=CID29).result is True
    assert service.translate(system=LEGACY, code="MRI", target=GENDER_VS).result is False


def test_translate_with_an_inline_concept_map_and_unmapped_mode(service: LocalTerminology) -> None:
    concept_map = {
        "resourceType": "ConceptMap",
        "status": "active",
        "group": [
            {
                "source": "urn:a",
                "target": "urn:b",
                "element": [{"code": "1", "target": [{"code": "x", "equivalence": "disjoint"}]}],
                "unmapped": {"mode": "provided"},
            }
        ],
    }
    disjoint = service.translate(concept_map=concept_map, system="urn:a", code="1")
    assert (disjoint.result, _matches(disjoint)) == (False, [("x", "disjoint")])
    provided = service.translate(concept_map=concept_map, system="urn:a", code="2")
    assert (provided.result, _matches(provided)) == (True, [("2", "equal")])


def test_translate_unknown_concept_map(service: LocalTerminology) -> None:
    with pytest.raises(TerminologyError) as caught:
        service.translate(url="http://example.org/ConceptMap/none", system=LEGACY, code="CT")
    assert caught.value.code == "not-found"


# --- resources() -------------------------------------------------------------------------------


def test_resources_are_copies(service: LocalTerminology) -> None:
    served = service.resources()
    assert len(served) == 20
    gender = next(r for r in served if r.get("url") == GENDER_CS)
    gender["concept"].clear()
    assert service.lookup(GENDER_CS, "male") is not None
    assert any(r.get("url") == GENDER_CS and r["concept"] for r in service.resources())
