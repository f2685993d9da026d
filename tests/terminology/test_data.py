"""The shipped content: valid R4B, the expected codes and displays, internally consistent."""

import json
from importlib.resources import files
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from terminology import systems
from terminology.code_keys import free_text
from terminology.errors import ShippedDataError
from terminology.loader import BINDINGS_FILE, check_unique, load_shipped_resources, validate_resource

DCM = "http://dicom.nema.org/resources/ontology/DCM"
LEGACY = "https://fhir.imaging-federation.example/CodeSystem/legacy-modality"

# fmt: off
CID29_CODES = [
    "AR", "BMD", "BDUS", "EPS", "CR", "CT", "DX", "ECG", "ES", "XC", "GM", "HD", "IO", "IVOCT", "IVUS",
    "KER", "LEN", "MR", "MG", "NM", "OAM", "OCT", "OPM", "OP", "OPT", "OPTBSV", "OPTENF", "OPV", "OSS",
    "PX", "PT", "RF", "RG", "SM", "SRF", "US", "VA", "XA",
]
NON_ACQUISITION_CODES = [
    "SR", "KO", "PR", "SEG", "DOC", "REG", "RTSTRUCT", "RTPLAN", "RTDOSE", "RTIMAGE", "OT", "PLAN",
]
IMAGINGSTUDY_STATUSES = [
    "registered", "available", "cancelled", "entered-in-error", "unknown",
]
ENDPOINT_STATUSES = [
    "active", "suspended", "error", "off", "entered-in-error", "test",
]
CONNECTION_TYPES = [
    "ihe-xcpd", "ihe-xca", "ihe-xdr", "ihe-xds", "ihe-iid", "dicom-wado-rs", "dicom-qido-rs",
    "dicom-stow-rs", "dicom-wado-uri", "hl7-fhir-rest", "hl7-fhir-msg", "hl7v2-mllp", "secure-email",
    "direct-project",
]
IDENTIFIER_TYPE_CODES = [
    "DL", "PPN", "BRN", "MR", "MCN", "EN", "TAX", "NIIP", "PRN", "MD", "DR", "ACSN", "UDI", "SNO", "SB",
    "PLAC", "FILL", "JHN",
]
# fmt: on


def _data_files() -> list[Any]:
    """The shipped FHIR resources: every data/*.json except the binding table (test_bindings.py)."""
    return sorted(
        (
            e
            for e in (files("terminology") / "data").iterdir()
            if e.name.endswith(".json") and e.name != BINDINGS_FILE
        ),
        key=lambda e: e.name,
    )


def _by_url(url: str) -> dict[str, Any]:
    return next(r for r in load_shipped_resources() if r.get("url") == url)


def _concepts(url: str) -> dict[str, dict[str, Any]]:
    return {c["code"]: c for c in _by_url(url)["concept"]}


def test_shipped_files_are_exactly_the_expected_ones() -> None:
    assert [e.name for e in _data_files()] == [
        "CodeSystem-administrative-gender.json",
        "CodeSystem-dicom-dcm.json",
        "CodeSystem-endpoint-connection-type.json",
        "CodeSystem-endpoint-status.json",
        "CodeSystem-imagingstudy-status.json",
        "CodeSystem-legacy-modality.json",
        "CodeSystem-v2-0203.json",
        "ConceptMap-legacy-modality-to-dcm.json",
        "NamingSystem-dicom-uid.json",
        "NamingSystem-legacy-hospital-id.json",
        "NamingSystem-legacy-patient-id.json",
        "NamingSystem-legacy-study-id.json",
        "NamingSystem-national-id.json",
        "ValueSet-administrative-gender.json",
        "ValueSet-dicom-cid29.json",
        "ValueSet-endpoint-connection-type.json",
        "ValueSet-endpoint-status.json",
        "ValueSet-identifier-type.json",
        "ValueSet-imagingstudy-status.json",
        "ValueSet-legacy-modality.json",
    ]
    assert (files("terminology") / "data" / BINDINGS_FILE).is_file()
    # The loader serves every resource file and leaves the binding table to terminology.bindings.
    assert len(load_shipped_resources()) == len(_data_files())


@pytest.mark.parametrize("entry", _data_files(), ids=lambda e: e.name)
def test_every_shipped_file_validates_with_fhir_resources_r4b(entry: Any) -> None:
    resource = json.loads(entry.read_text(encoding="utf-8"))
    model = get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    assert model.id == entry.name.split("-", 1)[1].removesuffix(".json")


def test_dcm_is_a_case_sensitive_fragment_with_official_modality_displays() -> None:
    dcm = _by_url(DCM)
    assert dcm["content"] == "fragment"
    assert dcm["caseSensitive"] is True
    displays = {code: concept["display"] for code, concept in _concepts(DCM).items()}
    assert {
        code: displays[code]
        for code in ["CT", "MR", "US", "PT", "CR", "DX", "MG", "XA", "NM", "SR", "KO", "SEG"]
    } == {
        "CT": "Computed Tomography",
        "MR": "Magnetic Resonance",
        "US": "Ultrasound",
        "PT": "Positron emission tomography (PET)",
        "CR": "Computed Radiography",
        "DX": "Digital Radiography",
        "MG": "Mammography",
        "XA": "X-Ray Angiography",
        "NM": "Nuclear Medicine",
        "SR": "SR Document",
        "KO": "Key Object Selection",
        "SEG": "Segmentation",
    }
    assert set(CID29_CODES + NON_ACQUISITION_CODES) <= set(displays)


@pytest.mark.parametrize("cid", [29, 32])
def test_dcm_fragment_covers_the_current_dicom_edition_bundled_with_pydicom(cid: int) -> None:
    # pydicom ships PS3.16 independently of this project: every current CID 29/32 code must be known,
    # with the current code meaning as its display or as a synonym designation.
    from pydicom.sr._cid_dict import cid_concepts
    from pydicom.sr.codedict import codes

    known = {
        code: [concept["display"], *(d["value"] for d in concept.get("designation", []))]
        for code, concept in _concepts(DCM).items()
    }
    for keyword in cid_concepts[cid]["DCM"]:
        current = getattr(getattr(codes, f"cid{cid}"), keyword)
        assert current.meaning in known.get(current.value, []), (current.value, current.meaning)


def test_current_edition_rewordings_are_synonyms() -> None:
    dcm = _concepts(DCM)
    assert [d["value"] for d in dcm["SR"]["designation"]] == ["Structured Report Document"]
    assert [d["value"] for d in dcm["PT"]["designation"]] == ["Positron emission tomography"]
    assert dcm["DMS"]["display"] == "Dermoscopy"


def test_cid29_lists_exactly_the_acquisition_modalities_with_dcm_displays() -> None:
    include = _by_url("http://hl7.org/fhir/ValueSet/dicom-cid29")["compose"]["include"]
    assert [i["system"] for i in include] == [DCM]
    listed = {c["code"]: c["display"] for c in include[0]["concept"]}
    assert sorted(listed) == sorted(CID29_CODES)
    dcm = _concepts(DCM)
    assert all(dcm[code]["display"] == display for code, display in listed.items())


def test_small_hl7_code_systems_hold_the_r4_codes() -> None:
    assert {c: v["display"] for c, v in _concepts("http://hl7.org/fhir/administrative-gender").items()} == {
        "male": "Male",
        "female": "Female",
        "other": "Other",
        "unknown": "Unknown",
    }
    assert list(_concepts("http://hl7.org/fhir/imagingstudy-status")) == IMAGINGSTUDY_STATUSES
    assert list(_concepts("http://hl7.org/fhir/endpoint-status")) == ENDPOINT_STATUSES
    assert (
        list(_concepts("http://terminology.hl7.org/CodeSystem/endpoint-connection-type")) == CONNECTION_TYPES
    )


def test_v2_0203_fragment_and_identifier_type_value_set() -> None:
    v2 = _concepts("http://terminology.hl7.org/CodeSystem/v2-0203")
    assert _by_url("http://terminology.hl7.org/CodeSystem/v2-0203")["content"] == "fragment"
    assert {code: v2[code]["display"] for code in ["MR", "NI", "XX", "PI", "ACSN", "DL"]} == {
        "MR": "Medical record number",
        "NI": "National unique individual identifier",
        "XX": "Organization identifier",
        "PI": "Patient internal identifier",
        "ACSN": "Accession ID",
        "DL": "Driver's license number",
    }
    include = _by_url("http://hl7.org/fhir/ValueSet/identifier-type")["compose"]["include"][0]
    assert [c["code"] for c in include["concept"]] == IDENTIFIER_TYPE_CODES


def test_system_constants() -> None:
    assert systems.NATIONAL_ID_SYSTEM == "https://fhir.imaging-federation.example/sid/national-id"
    assert systems.DEFAULT_NATIONAL_ID_SYSTEM == systems.NATIONAL_ID_SYSTEM
    assert (
        systems.LEGACY_HOSPITAL_ID_SYSTEM == "https://fhir.imaging-federation.example/sid/legacy-hospital-id"
    )
    assert systems.LEGACY_PATIENT_ID_SYSTEM == "https://fhir.imaging-federation.example/sid/legacy-patient-id"
    assert systems.LEGACY_STUDY_ID_SYSTEM == "https://fhir.imaging-federation.example/sid/legacy-study-id"
    assert systems.DICOM_UID_SYSTEM == "urn:dicom:uid"
    assert systems.DCM_SYSTEM == DCM
    assert systems.V2_0203_SYSTEM == "http://terminology.hl7.org/CodeSystem/v2-0203"


def test_naming_systems_describe_the_identifier_systems() -> None:
    naming = {r["id"]: r for r in load_shipped_resources() if r["resourceType"] == "NamingSystem"}
    assert {id_: r["uniqueId"][0]["value"] for id_, r in naming.items()} == {
        "dicom-uid": "urn:dicom:uid",
        "legacy-hospital-id": "https://fhir.imaging-federation.example/sid/legacy-hospital-id",
        "legacy-patient-id": "https://fhir.imaging-federation.example/sid/legacy-patient-id",
        "legacy-study-id": "https://fhir.imaging-federation.example/sid/legacy-study-id",
        "national-id": "https://fhir.imaging-federation.example/sid/national-id",
    }
    assert all(r["kind"] == "identifier" and r["uniqueId"][0]["type"] == "uri" for r in naming.values())
    assert naming["national-id"]["type"]["coding"][0]["code"] == "NI"
    assert naming["legacy-hospital-id"]["type"]["coding"][0]["code"] == "XX"


def test_legacy_modality_codes_stay_distinct_after_normalisation() -> None:
    codes = list(_concepts(LEGACY))
    assert len({free_text(code) for code in codes}) == len(codes) == 24
    assert free_text("X-Ray") == free_text("Xray") == free_text("x ray") == "xray"
    assert free_text("PET/CT") == free_text("PET-CT") == "petct"


def test_concept_map_refers_only_to_defined_codes_with_matching_displays() -> None:
    group = _by_url("https://fhir.imaging-federation.example/ConceptMap/legacy-modality-to-dcm")["group"][0]
    assert (group["source"], group["target"]) == (LEGACY, DCM)
    legacy, dcm = _concepts(LEGACY), _concepts(DCM)
    assert [e["code"] for e in group["element"]] == list(legacy)
    for element in group["element"]:
        for target in element["target"]:
            assert dcm[target["code"]]["display"] == target["display"]
            # R4 requires a comment explaining every one-directional mapping.
            assert target["equivalence"] == "equivalent" or target.get("comment")


def test_loader_rejects_invalid_and_duplicate_resources() -> None:
    with pytest.raises(ShippedDataError, match=r"bad\.json"):
        validate_resource(
            {
                "resourceType": "CodeSystem",
                "status": "active",
                "content": "complete",
                "bogus": 1,
                "url": "urn:x",
            },
            "bad.json",
        )
    with pytest.raises(ShippedDataError, match="unsupported resourceType 'Patient'"):
        validate_resource({"resourceType": "Patient"}, "p.json")
    duplicate = {"resourceType": "ValueSet", "id": "a", "url": "urn:same", "status": "active"}
    with pytest.raises(ShippedDataError, match="duplicate canonical url urn:same"):
        check_unique([duplicate, {**duplicate, "resourceType": "CodeSystem"}])
