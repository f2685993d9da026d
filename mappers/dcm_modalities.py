"""DICOM modality codes (Modality 0008,0060) as DCM Codings.

Displays are those of the DCM CodeSystem the server ships (terminology/data/CodeSystem-dicom-dcm.json, which a
test compares with): the edition of the FHIR R4 dicom-cid29 value set, e.g. PT "Positron emission tomography
(PET)". That CodeSystem accepts the newer DICOM wordings as synonyms, so either would validate; one wording
across the server is what matters. Codes outside CID 33 get no display rather than a guessed one.
"""

from typing import Any

from mappers.fhir_json import compact
from terminology.systems import DCM_SYSTEM

DCM_MODALITY_DISPLAYS: dict[str, str] = {
    "AR": "Autorefraction",
    "ASMT": "Content Assessment Result",
    "AU": "Audio",
    "BDUS": "Ultrasound Bone Densitometry",
    "BI": "Biomagnetic Imaging",
    "BMD": "Bone Mineral Densitometry",
    "CFM": "Confocal Microscopy",
    "CR": "Computed Radiography",
    "CT": "Computed Tomography",
    "CTPROTOCOL": "CT Protocol",
    "DG": "Diaphanography",
    "DMS": "Dermoscopy",
    "DOC": "Document",
    "DX": "Digital Radiography",
    "ECG": "Electrocardiography",
    "EEG": "Electroencephalography",
    "EMG": "Electromyography",
    "EOG": "Electrooculography",
    "EPS": "Cardiac Electrophysiology",
    "ES": "Endoscopy",
    "FID": "Fiducials",
    "GM": "General Microscopy",
    "HC": "Hard Copy",
    "HD": "Hemodynamic Waveform",
    "IO": "Intra-oral Radiography",
    "IOL": "Intraocular Lens Calculation",
    "IVOCT": "Intravascular Optical Coherence Tomography",
    "IVUS": "Intravascular Ultrasound",
    "KER": "Keratometry",
    "KO": "Key Object Selection",
    "LEN": "Lensometry",
    "LS": "Laser Scan",
    "M3D": "Model for 3D Manufacturing",
    "MG": "Mammography",
    "MR": "Magnetic Resonance",
    "NM": "Nuclear Medicine",
    "OAM": "Ophthalmic Axial Measurements",
    "OCT": "Optical Coherence Tomography (non-Ophthalmic)",
    "OP": "Ophthalmic Photography",
    "OPM": "Ophthalmic Mapping",
    "OPT": "Ophthalmic Tomography",
    "OPTBSV": "Ophthalmic Tomography B-scan Volume Analysis",
    "OPTENF": "Ophthalmic Tomography En Face",
    "OPV": "Ophthalmic Visual Field",
    "OSS": "Optical Surface Scan",
    "OT": "Other",
    "PA": "Photoacoustic",
    "PLAN": "Plan",
    "POS": "Position Sensor",
    "PR": "Presentation State",
    "PT": "Positron emission tomography (PET)",
    "PX": "Panoramic X-Ray",
    "REG": "Registration",
    "RESP": "Respiratory Waveform",
    "RF": "Radio Fluoroscopy",
    "RG": "Radiographic imaging (conventional film/screen)",
    "RTDOSE": "Radiotherapy Dose",
    "RTIMAGE": "Radiotherapy Image",
    "RTPLAN": "Radiotherapy Plan",
    "RTRECORD": "RT Treatment Record",
    "RTSTRUCT": "Radiotherapy Structure Set",
    "RWV": "Real World Value Map",
    "SEG": "Segmentation",
    "SM": "Slide Microscopy",
    "SMR": "Stereometric Relationship",
    "SR": "SR Document",
    "SRF": "Subjective Refraction",
    "STAIN": "Automated Slide Stainer",
    "TEXTUREMAP": "Texture Map",
    "TG": "Thermography",
    "US": "Ultrasound",
    "VA": "Visual Acuity",
    "XA": "X-Ray Angiography",
    "XC": "External-camera Photography",
}

# CID 32: series of these hold reports, annotations, selections, plans or captures, not acquired data, so
# they stay off ImagingStudy.modality (the study's "what was acquired") but keep their series.modality.
# Codes this module does not know are kept at study level: dropping one could hide a study's only modality.
NON_ACQUISITION_MODALITIES = frozenset(
    {
        "ASMT",
        "AU",
        "CTPROTOCOL",
        "DOC",
        "FID",
        "HC",
        "IOL",
        "KO",
        "M3D",
        "OT",
        "PLAN",
        "PR",
        "REG",
        "RTDOSE",
        "RTPLAN",
        "RTRECORD",
        "RTSTRUCT",
        "RWV",
        "SEG",
        "SMR",
        "SR",
        "STAIN",
        "TEXTUREMAP",
    }
)


def modality_coding(code: str) -> dict[str, Any]:
    """A DCM Coding; unknown codes are kept, without a display rather than with an invented one."""
    return compact(system=DCM_SYSTEM, code=code, display=DCM_MODALITY_DISPLAYS.get(code))


def is_acquisition_modality(code: str) -> bool:
    return code not in NON_ACQUISITION_MODALITIES
