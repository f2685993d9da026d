import json
from pathlib import Path

import pytest
from pydicom.sr.codedict import codes

import terminology.systems
from mappers.dcm_modalities import (
    DCM_MODALITY_DISPLAYS,
    NON_ACQUISITION_MODALITIES,
    is_acquisition_modality,
    modality_coding,
)

DCM = "http://dicom.nema.org/resources/ontology/DCM"


def test_displays_are_those_of_the_dcm_codesystem_the_server_ships() -> None:
    # Located from a module, not the package: the test path setup can make "terminology" a namespace package.
    codesystem = Path(terminology.systems.__file__).parent / "data" / "CodeSystem-dicom-dcm.json"
    shipped = json.loads(codesystem.read_text(encoding="utf-8"))

    assert {concept["code"]: concept["display"] for concept in shipped["concept"]} == DCM_MODALITY_DISPLAYS


def test_non_acquisition_modalities_are_exactly_dicom_cid_32() -> None:
    cid_32 = {getattr(codes.cid32, keyword).value for keyword in codes.cid32.dir()}

    assert cid_32 == NON_ACQUISITION_MODALITIES


@pytest.mark.parametrize(
    ("code", "display"),
    [
        ("CT", "Computed Tomography"),
        ("MR", "Magnetic Resonance"),
        ("US", "Ultrasound"),
        ("CR", "Computed Radiography"),
        ("DX", "Digital Radiography"),
        ("MG", "Mammography"),
        ("PT", "Positron emission tomography (PET)"),
        ("NM", "Nuclear Medicine"),
        ("XA", "X-Ray Angiography"),
        ("RF", "Radio Fluoroscopy"),
        ("SR", "SR Document"),
        ("KO", "Key Object Selection"),
        ("PR", "Presentation State"),
        ("SEG", "Segmentation"),
        ("OT", "Other"),
        ("IO", "Intra-oral Radiography"),
        ("PX", "Panoramic X-Ray"),
        ("ES", "Endoscopy"),
        ("XC", "External-camera Photography"),
        ("SM", "Slide Microscopy"),
        ("BMD", "Bone Mineral Densitometry"),
        ("RG", "Radiographic imaging (conventional film/screen)"),
        ("OP", "Ophthalmic Photography"),
        ("OPT", "Ophthalmic Tomography"),
        ("IVUS", "Intravascular Ultrasound"),
    ],
)
def test_modality_coding(code: str, display: str) -> None:
    assert modality_coding(code) == {"system": DCM, "code": code, "display": display}


def test_unknown_code_is_kept_without_display() -> None:
    assert modality_coding("XYZ") == {"system": DCM, "code": "XYZ"}


@pytest.mark.parametrize("code", ["SR", "KO", "PR", "SEG", "REG", "RTSTRUCT", "DOC", "OT"])
def test_derived_objects_are_not_acquisition_modalities(code: str) -> None:
    assert not is_acquisition_modality(code)


@pytest.mark.parametrize("code", ["CT", "MR", "US", "PT", "RTIMAGE", "XYZ"])
def test_acquisition_and_unknown_modalities(code: str) -> None:
    assert is_acquisition_modality(code)
