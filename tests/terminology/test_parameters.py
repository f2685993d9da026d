"""run_operation: GET query dicts and POST Parameters in, R4 Parameters/ValueSet out."""

from typing import Any

import pytest
from fhir.resources.R4B.parameters import Parameters
from starlette.datastructures import QueryParams

from terminology import LocalTerminology, TerminologyError
from terminology.parameters import resolve_instance_url, run_operation

DCM = "http://dicom.nema.org/resources/ontology/DCM"
CID29 = "http://hl7.org/fhir/ValueSet/dicom-cid29"
GENDER_CS = "http://hl7.org/fhir/administrative-gender"
GENDER_VS = "http://hl7.org/fhir/ValueSet/administrative-gender"
LEGACY = "https://fhir.imaging-federation.example/CodeSystem/legacy-modality"
LEGACY_MAP = "https://fhir.imaging-federation.example/ConceptMap/legacy-modality-to-dcm"


def _body(*parameters: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": list(parameters)}


def _error(
    service: LocalTerminology, name: str, params: Any, instance_url: str | None = None
) -> TerminologyError:
    with pytest.raises(TerminologyError) as caught:
        run_operation(service, name, params, instance_url)
    return caught.value


# --- $lookup -----------------------------------------------------------------------------------


def test_lookup_get_gives_the_r4_output(service: LocalTerminology) -> None:
    out = run_operation(service, "$lookup", {"system": GENDER_CS, "code": "male"})
    assert out == _body(
        {"name": "name", "valueString": "AdministrativeGender"},
        {"name": "version", "valueString": "4.0.1"},
        {"name": "display", "valueString": "Male"},
        {
            "name": "property",
            "part": [{"name": "code", "valueCode": "definition"}, {"name": "value", "valueString": "Male."}],
        },
    )
    Parameters.model_validate(out)


def test_lookup_post_with_coding_and_designation(service: LocalTerminology) -> None:
    body = _body(
        {"name": "coding", "valueCoding": {"system": DCM, "code": "PT"}},
        {"name": "property", "valueCode": "designation"},
    )
    out = run_operation(service, "lookup", body)
    assert out["parameter"][-1] == {
        "name": "designation",
        "part": [
            {"name": "language", "valueCode": "en"},
            {
                "name": "use",
                "valueCoding": {
                    "system": "http://snomed.info/sct",
                    "code": "900000000000013009",
                    "display": "Synonym (core metadata concept)",
                },
            },
            {"name": "value", "valueString": "Positron emission tomography"},
        ],
    }
    Parameters.model_validate(out)


def test_lookup_repeated_property_from_starlette_query_params(service: LocalTerminology) -> None:
    query = QueryParams(
        f"system={GENDER_CS}&code=other&property=definition&property=designation&_format=json"
    )
    out = run_operation(service, "lookup", query)
    assert [p["name"] for p in out["parameter"]] == ["name", "version", "display", "property"]


def test_lookup_of_an_unknown_code_is_not_found(service: LocalTerminology) -> None:
    error = _error(service, "lookup", {"system": GENDER_CS, "code": "mal"})
    assert (error.code, error.diagnostics) == (
        "not-found",
        "Code 'mal' is not in http://hl7.org/fhir/administrative-gender",
    )


def test_lookup_requires_system_and_code(service: LocalTerminology) -> None:
    error = _error(service, "lookup", {"code": "male"})
    assert (error.code, error.diagnostics) == ("invalid", "$lookup requires parameter 'system'")


# --- $validate-code ----------------------------------------------------------------------------


def test_validate_code_get(service: LocalTerminology) -> None:
    out = run_operation(service, "validate-code", {"url": [CID29], "system": [DCM], "code": ["CT"]})
    assert out == _body(
        {"name": "result", "valueBoolean": True}, {"name": "display", "valueString": "Computed Tomography"}
    )


def test_validate_code_sr_is_false_with_message(service: LocalTerminology) -> None:
    out = run_operation(service, "validate-code", {"url": CID29, "system": DCM, "code": "SR"})
    assert out["parameter"][0] == {"name": "result", "valueBoolean": False}
    assert out["parameter"][1]["name"] == "message"
    assert out["parameter"][2] == {"name": "display", "valueString": "SR Document"}
    Parameters.model_validate(out)


def test_validate_code_post_with_codeable_concept(service: LocalTerminology) -> None:
    body = _body(
        {"name": "url", "valueUri": GENDER_VS},
        {
            "name": "codeableConcept",
            "valueCodeableConcept": {"coding": [{"system": GENDER_CS, "code": "unknown"}]},
        },
    )
    assert run_operation(service, "validate-code", body)["parameter"] == [
        {"name": "result", "valueBoolean": True},
        {"name": "display", "valueString": "Unknown"},
    ]


def test_validate_code_accepts_a_fhir_resources_model(service: LocalTerminology) -> None:
    model = Parameters.model_validate(
        _body({"name": "url", "valueUri": GENDER_VS}, {"name": "code", "valueCode": "female"})
    )
    assert run_operation(service, "validate-code", model)["parameter"][0] == {
        "name": "result",
        "valueBoolean": True,
    }


def test_validate_code_on_an_instance(service: LocalTerminology) -> None:
    url = resolve_instance_url(service, "ValueSet", "administrative-gender")
    assert url == GENDER_VS
    out = run_operation(service, "validate-code", {"code": "male"}, instance_url=url)
    assert out["parameter"][0] == {"name": "result", "valueBoolean": True}


# --- $expand -----------------------------------------------------------------------------------


def test_expand_get_with_filter_and_count(service: LocalTerminology) -> None:
    out = run_operation(service, "expand", {"url": CID29, "filter": "tomo", "count": "2"})
    assert out["resourceType"] == "ValueSet"
    assert out["expansion"]["total"] == 7
    assert out["expansion"]["parameter"] == [
        {"name": "filter", "valueString": "tomo"},
        {"name": "count", "valueInteger": 2},
    ]
    assert [c["code"] for c in out["expansion"]["contains"]] == ["CT", "IVOCT"]


def test_expand_post_on_an_instance(service: LocalTerminology) -> None:
    url = resolve_instance_url(service, "ValueSet", "dicom-cid29")
    out = run_operation(service, "expand", _body({"name": "offset", "valueInteger": 36}), instance_url=url)
    assert [c["code"] for c in out["expansion"]["contains"]] == ["VA", "XA"]


def test_resolve_instance_url_of_unknown_id(service: LocalTerminology) -> None:
    with pytest.raises(TerminologyError) as caught:
        resolve_instance_url(service, "ValueSet", "nope")
    assert caught.value.code == "not-found"


# --- $translate --------------------------------------------------------------------------------


def test_translate_post_gives_match_parts(service: LocalTerminology) -> None:
    body = _body(
        {"name": "url", "valueUri": LEGACY_MAP},
        {"name": "system", "valueUri": LEGACY},
        {"name": "code", "valueCode": "ct"},
    )
    assert run_operation(service, "translate", body) == _body(
        {"name": "result", "valueBoolean": True},
        {
            "name": "match",
            "part": [
                {"name": "equivalence", "valueCode": "equivalent"},
                {
                    "name": "concept",
                    "valueCoding": {"system": DCM, "code": "CT", "display": "Computed Tomography"},
                },
                {"name": "source", "valueUri": LEGACY_MAP},
            ],
        },
    )


def test_translate_get_x_ray_and_unmapped(service: LocalTerminology) -> None:
    out = run_operation(service, "translate", {"system": LEGACY, "code": "X-Ray"})
    assert [p["name"] for p in out["parameter"]] == ["result", "message", "match", "match"]
    Parameters.model_validate(out)
    unmapped = run_operation(service, "translate", {"system": LEGACY, "code": "Thermography"})
    assert unmapped["parameter"][0] == {"name": "result", "valueBoolean": False}


def test_translate_get_reverse(service: LocalTerminology) -> None:
    out = run_operation(service, "translate", {"system": DCM, "code": "MG", "reverse": "true"})
    codes = [
        part["valueCoding"]["code"]
        for p in out["parameter"]
        if p["name"] == "match"
        for part in p["part"]
        if part["name"] == "concept"
    ]
    assert codes == ["Mammography", "Mammo", "MG"]


# --- input errors name the parameter -----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "params", "code", "diagnostics"),
    [
        (
            "expand",
            {"url": CID29, "count": "ten"},
            "invalid",
            "$expand parameter 'count' must be an integer, got 'ten'",
        ),
        (
            "expand",
            _body({"name": "url", "valueUri": CID29}, {"name": "count", "valueString": "10"}),
            "invalid",
            "$expand parameter 'count' must be valueInteger or valueUnsignedInt or valuePositiveInt, "
            "got valueString",
        ),
        (
            "translate",
            {"system": LEGACY, "code": "CT", "reverse": "yes"},
            "invalid",
            "$translate parameter 'reverse' must be true or false, got 'yes'",
        ),
        (
            "lookup",
            {"system": GENDER_CS, "code": ["male", "female"]},
            "invalid",
            "$lookup parameter 'code' may appear only once",
        ),
        (
            "lookup",
            {"system": GENDER_CS, "code": "male", "date": "2024"},
            "not-supported",
            "$lookup parameter 'date' is not supported",
        ),
        (
            "validate-code",
            {"url": CID29, "coding": "x"},
            "invalid",
            "$validate-code parameter 'coding' cannot be sent in a query string; use POST",
        ),
        (
            "lookup",
            _body(
                {"name": "coding", "valueCoding": {"system": DCM, "code": "CT"}},
                {"name": "code", "valueCode": "CT"},
            ),
            "invalid",
            "$lookup takes 'coding' or 'code' and 'system', not both",
        ),
        ("subsumes", {"system": DCM}, "not-supported", "Operation $subsumes is not supported"),
        ("expand", {}, "invalid", "$expand requires parameter 'url'"),
    ],
)
def test_bad_input(service: LocalTerminology, name: str, params: Any, code: str, diagnostics: str) -> None:
    error = _error(service, name, params)
    assert (error.code, error.diagnostics) == (code, diagnostics)


def test_malformed_parameters_body_is_invalid(service: LocalTerminology) -> None:
    error = _error(service, "lookup", _body({"name": "code", "valueNope": "x"}))
    assert error.code == "invalid"
    assert "valueNope" in error.diagnostics


def test_instance_url_contradicting_the_url_parameter(service: LocalTerminology) -> None:
    error = _error(service, "expand", {"url": CID29}, instance_url=GENDER_VS)
    assert (error.code, error.diagnostics) == (
        "invalid",
        "$expand parameter 'url' (http://hl7.org/fhir/ValueSet/dicom-cid29) contradicts instance "
        "http://hl7.org/fhir/ValueSet/administrative-gender",
    )
