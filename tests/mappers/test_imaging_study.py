import copy
import re
from collections.abc import Callable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fhir.resources.R4B.imagingstudy import ImagingStudy
from pydicom import Dataset
from pydicom.dataelem import RawDataElement
from pydicom.tag import BaseTag

from mappers.errors import DicomMappingError
from mappers.imaging_study import (
    study_from_datasets,
    study_from_dicom_json,
    study_uid_from_identifier,
    study_uid_identifier,
)

STUDY_UID = "1.2.826.0.1.3680043.10.1234.1.1"
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
SNOMED = "http://snomed.info/sct"
Json = dict[str, Any]


def el(vr: str, *value: Any) -> Json:
    return {"vr": vr, "Value": list(value)}


def study(**elements: Json) -> Json:
    """A study dataset; keyword arguments are DICOM JSON keys prefixed with "t" (t00081030=...)."""
    return {
        "0020000D": el("UI", STUDY_UID),
        **{key.removeprefix("t"): value for key, value in elements.items()},
    }


def series(uid: str, modality: str | None = "CT", number: int | None = None, **elements: Json) -> Json:
    dataset = {"0020000E": el("UI", uid), **{key.removeprefix("t"): value for key, value in elements.items()}}
    if modality:
        dataset["00080060"] = el("CS", modality)
    if number is not None:
        dataset["00200011"] = el("IS", number)
    return dataset


def instance(series_uid: str, sop_uid: str, number: int | None = None, **elements: Json) -> Json:
    dataset = {
        "0020000E": el("UI", series_uid),
        "00080018": el("UI", sop_uid),
        "00080016": el("UI", CT_IMAGE_STORAGE),
        **{key.removeprefix("t"): value for key, value in elements.items()},
    }
    if number is not None:
        dataset["00200013"] = el("IS", number)
    return dataset


def map_study(
    study_json: Json, series_list: Sequence[Json] = (), instances: Sequence[Json] = (), **options: Any
) -> Json:
    """The mapper under test, with every result checked against the R4B ImagingStudy model."""
    options.setdefault("patient_ref", "Patient/p1")
    options.setdefault("endpoint_ref", None)
    result = study_from_dicom_json(study_json, series_list, instances, **options)
    ImagingStudy.model_validate(result)
    return result


# --- goldens ---------------------------------------------------------------------------------------------


def test_golden_qido_study_with_ct_and_report_series(golden: Callable[[str], Any]) -> None:
    given = golden("qido_ct_with_report.input.json")

    result = map_study(
        given["study"],
        given["series"],
        given["instances"],
        patient_ref="Patient/pid-778899",
        endpoint_ref="Endpoint/orthanc-nord-wado",
    )

    assert result == golden("qido_ct_with_report.imagingstudy.json")


def test_golden_ct_small_file(golden: Callable[[str], Any], pydicom_file: Callable[[str], Dataset]) -> None:
    result = study_from_datasets(
        [pydicom_file("CT_small.dcm")], patient_ref="Patient/1CT1", endpoint_ref="Endpoint/wado"
    )

    ImagingStudy.model_validate(result)
    assert result == golden("ct_small.imagingstudy.json")


def test_golden_mr_small_file(golden: Callable[[str], Any], pydicom_file: Callable[[str], Dataset]) -> None:
    result = study_from_datasets([pydicom_file("MR_small.dcm")], patient_ref="Patient/4MR1")

    ImagingStudy.model_validate(result)
    assert result == golden("mr_small.imagingstudy.json")


def _ct_small_with_report(pydicom_file: Callable[[str], Dataset]) -> list[Dataset]:
    """CT_small as three slices plus pydicom's SR test file filed into the same study."""
    first = pydicom_file("CT_small.dcm")
    slices = []
    for number in (3, 2):
        other = copy.deepcopy(first)
        other.SOPInstanceUID = f"{first.SOPInstanceUID}.{number}"
        other.InstanceNumber = number
        slices.append(other)
    report = pydicom_file("reportsi.dcm")
    report.StudyInstanceUID = first.StudyInstanceUID
    return [report, *slices, first]


def test_golden_datasets_grouped_into_series_with_counts(
    golden: Callable[[str], Any], pydicom_file: Callable[[str], Dataset]
) -> None:
    result = study_from_datasets(
        _ct_small_with_report(pydicom_file), patient_ref="Patient/1CT1", endpoint_ref="Endpoint/wado"
    )

    ImagingStudy.model_validate(result)
    assert result == golden("ct_small_with_report.imagingstudy.json")


def test_datasets_give_the_same_study_in_any_order(pydicom_file: Callable[[str], Dataset]) -> None:
    datasets = _ct_small_with_report(pydicom_file)
    # The report carries the study description, the CT slices do not; keep it first in both orders.
    reordered = [datasets[0], *reversed(datasets[1:])]

    forward = study_from_datasets(datasets, patient_ref="Patient/1CT1")
    backward = study_from_datasets(reordered, patient_ref="Patient/1CT1")

    assert forward == backward


def test_datasets_of_two_studies_are_refused(pydicom_file: Callable[[str], Dataset]) -> None:
    with pytest.raises(DicomMappingError, match="study"):
        study_from_datasets(
            [pydicom_file("CT_small.dcm"), pydicom_file("MR_small.dcm")], patient_ref="Patient/x"
        )


def test_no_datasets_is_refused() -> None:
    with pytest.raises(DicomMappingError):
        study_from_datasets([], patient_ref="Patient/x")


def test_invalid_value_in_a_file_loses_that_attribute_not_the_study(
    pydicom_file: Callable[[str], Dataset],
) -> None:
    dataset = pydicom_file("CT_small.dcm")
    dataset[0x00200011] = RawDataElement(BaseTag(0x00200011), "IS", 3, b"1x ", 0, False, True)

    with pytest.warns(UserWarning, match="Invalid value for VR IS"):
        result = study_from_datasets([dataset], patient_ref="Patient/1CT1")

    ImagingStudy.model_validate(result)
    assert "number" not in result["series"][0]
    assert result["series"][0]["instance"][0]["number"] == 1


def test_datasets_status_and_endpoint_are_passed_through(pydicom_file: Callable[[str], Dataset]) -> None:
    result = study_from_datasets(
        [pydicom_file("MR_small.dcm")],
        patient_ref="Patient/4MR1",
        endpoint_ref="Endpoint/e",
        status="registered",
    )

    assert result["status"] == "registered"
    assert result["endpoint"] == [{"reference": "Endpoint/e"}]


# --- identifiers ---------------------------------------------------------------------------------------


def test_study_uid_identifier_is_an_oid_urn_in_the_dicom_uid_system() -> None:
    assert map_study(study())["identifier"] == [
        {"system": "urn:dicom:uid", "value": "urn:oid:1.2.826.0.1.3680043.10.1234.1.1"}
    ]


def test_accession_number_without_issuer() -> None:
    result = map_study(study(t00080050=el("SH", "A123")))

    assert result["identifier"][1] == {
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "ACSN"}]},
        "value": "A123",
    }


def test_accession_issuer_universal_id_is_the_system_and_local_name_the_assigner() -> None:
    issuer = {
        "00400031": el("UT", "RIS_NORD"),
        "00400032": el("UT", "1.2.3.4.5"),
        "00400033": el("CS", "ISO"),
    }

    result = map_study(study(t00080050=el("SH", "A123"), t00080051=el("SQ", issuer)))

    assert result["identifier"][1] == {
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "ACSN"}]},
        "system": "urn:oid:1.2.3.4.5",
        "value": "A123",
        "assigner": {"display": "RIS_NORD"},
    }


@pytest.mark.parametrize(
    ("universal_id", "id_type", "system"),
    [
        ("https://ris.example.org/accession", "URI", "https://ris.example.org/accession"),
        ("a3f1c7e2-1b2c-4d5e-8f90-123456789abc", "UUID", "urn:uuid:a3f1c7e2-1b2c-4d5e-8f90-123456789abc"),
        ("urn:oid:1.2.3", "ISO", "urn:oid:1.2.3"),
        ("ris.example.org", "DNS", None),
    ],
)
def test_accession_issuer_universal_id_types(universal_id: str, id_type: str, system: str | None) -> None:
    issuer = {"00400032": el("UT", universal_id), "00400033": el("CS", id_type)}

    accession = map_study(study(t00080050=el("SH", "A1"), t00080051=el("SQ", issuer)))["identifier"][1]

    assert accession.get("system") == system
    assert "assigner" not in accession


def test_accession_issuer_with_local_name_only_has_no_system() -> None:
    issuer = {"00400031": el("UT", "RIS_NORD")}

    accession = map_study(study(t00080050=el("SH", "A1"), t00080051=el("SQ", issuer)))["identifier"][1]

    assert "system" not in accession
    assert accession["assigner"] == {"display": "RIS_NORD"}


@pytest.mark.parametrize("accession", [None, {"vr": "SH"}, el("SH", "")], ids=["absent", "no Value", "empty"])
def test_no_accession_number_gives_only_the_study_uid_identifier(accession: Json | None) -> None:
    given = study() if accession is None else study(t00080050=accession)

    assert map_study(given)["identifier"] == [
        {"system": "urn:dicom:uid", "value": "urn:oid:1.2.826.0.1.3680043.10.1234.1.1"}
    ]


def test_study_uid_helpers() -> None:
    assert study_uid_identifier("1.2.3") == {"system": "urn:dicom:uid", "value": "urn:oid:1.2.3"}
    assert study_uid_from_identifier("urn:oid:1.2.3") == "1.2.3"
    assert study_uid_from_identifier("1.2.3") == "1.2.3"


@pytest.mark.parametrize("bad", ["", "urn:oid:", "1.2.x", "1..2", "urn:uuid:1234", "1." + "2" * 64])
def test_study_uid_helpers_refuse_what_is_not_a_uid(bad: str) -> None:
    with pytest.raises(ValueError):
        study_uid_from_identifier(bad)
    with pytest.raises(ValueError):
        study_uid_identifier(bad)


def test_missing_study_uid_is_refused() -> None:
    with pytest.raises(DicomMappingError, match="StudyInstanceUID"):
        map_study({"00081030": el("LO", "no uid")})


# --- status, subject, endpoint -------------------------------------------------------------------------


def test_status_defaults_to_available_and_can_be_set() -> None:
    assert map_study(study())["status"] == "available"
    assert map_study(study(), status="registered")["status"] == "registered"


def test_unknown_status_is_refused() -> None:
    with pytest.raises(ValueError, match="status"):
        map_study(study(), status="final")


def test_subject_is_the_patient_reference() -> None:
    assert map_study(study(), patient_ref="Patient/42")["subject"] == {"reference": "Patient/42"}


def test_empty_patient_reference_is_refused() -> None:
    with pytest.raises(ValueError, match="subject"):
        map_study(study(), patient_ref="")


def test_endpoint_reference_or_none() -> None:
    assert map_study(study(), endpoint_ref="Endpoint/wado")["endpoint"] == [{"reference": "Endpoint/wado"}]
    assert "endpoint" not in map_study(study(), endpoint_ref=None)


# --- started ---------------------------------------------------------------------------------------------


def test_started_from_date_time_and_timezone_offset() -> None:
    given = study(t00080020=el("DA", "20240307"), t00080030=el("TM", "141503"), t00080201=el("SH", "+0100"))

    assert map_study(given)["started"] == "2024-03-07T14:15:03+01:00"


def test_started_keeps_fractional_seconds() -> None:
    given = study(t00080020=el("DA", "20240307"), t00080030=el("TM", "141503.5"), t00080201=el("SH", "-0500"))

    assert map_study(given)["started"] == "2024-03-07T14:15:03.5-05:00"


def test_started_from_partial_time() -> None:
    given = study(t00080020=el("DA", "20240307"), t00080030=el("TM", "1415"), t00080201=el("SH", "+0000"))

    assert map_study(given)["started"] == "2024-03-07T14:15:00+00:00"


def test_started_is_date_only_without_study_time() -> None:
    assert map_study(study(t00080020=el("DA", "20240307")))["started"] == "2024-03-07"


def test_started_is_date_only_when_no_offset_is_known() -> None:
    given = study(t00080020=el("DA", "20240307"), t00080030=el("TM", "141503"))

    assert map_study(given)["started"] == "2024-03-07"


def test_started_uses_the_local_timezone_when_the_study_has_no_offset() -> None:
    given = study(t00080020=el("DA", "20240707"), t00080030=el("TM", "141503"))

    result = map_study(given, local_timezone=ZoneInfo("Europe/Berlin"))

    assert result["started"] == "2024-07-07T14:15:03+02:00"


def test_no_started_without_study_date() -> None:
    assert "started" not in map_study(study(t00080030=el("TM", "141503"), t00080201=el("SH", "+0100")))


# --- modality --------------------------------------------------------------------------------------------


def test_study_modalities_are_acquisition_modalities_only() -> None:
    result = map_study(study(t00080061=el("CS", "CT", "SR", "PT", "KO", "PR", "SEG")))

    assert result["modality"] == [
        {"system": DCM, "code": "CT", "display": "Computed Tomography"},
        {"system": DCM, "code": "PT", "display": "Positron emission tomography (PET)"},
    ]


def test_study_modalities_also_come_from_series_without_duplicates() -> None:
    given = study(t00080061=el("CS", "MR"))
    series_list = [series("1.2.3.1", "MR", 1), series("1.2.3.2", "US", 2), series("1.2.3.3", "SR", 3)]

    result = map_study(given, series_list)

    assert [coding["code"] for coding in result["modality"]] == ["MR", "US"]
    assert [entry["modality"]["code"] for entry in result["series"]] == ["MR", "US", "SR"]


def test_modalities_joined_into_one_string_and_lowercase_are_split_and_normalised() -> None:
    result = map_study(study(t00080061=el("CS", "ct\\SR\\mr")))

    assert [coding["code"] for coding in result["modality"]] == ["CT", "MR"]


def test_only_derived_series_give_no_study_modality() -> None:
    result = map_study(study(t00080061=el("CS", "SR")), [series("1.2.3.1", "SR", 1)])

    assert "modality" not in result
    assert result["series"][0]["modality"] == {
        "system": DCM,
        "code": "SR",
        "display": "SR Document",
    }


def test_unknown_modality_code_is_kept_without_display() -> None:
    assert map_study(study(t00080061=el("CS", "XYZ")))["modality"] == [{"system": DCM, "code": "XYZ"}]


# --- counts ----------------------------------------------------------------------------------------------


def test_counts_from_the_query_attributes() -> None:
    result = map_study(study(t00201206=el("IS", 3), t00201208=el("IS", "250")))

    assert (result["numberOfSeries"], result["numberOfInstances"]) == (3, 250)


def test_counts_from_the_query_win_over_counting_a_partial_list() -> None:
    given = study(t00201206=el("IS", 5), t00201208=el("IS", 900))

    result = map_study(given, [series("1.2.3.1", "CT", 1)], [instance("1.2.3.1", "1.2.3.1.1", 1)])

    assert (result["numberOfSeries"], result["numberOfInstances"]) == (5, 900)


def test_counts_computed_from_given_series_and_instances() -> None:
    instances = [instance("1.2.3.1", f"1.2.3.1.{n}", n) for n in (1, 2, 3)] + [
        instance("1.2.3.2", "1.2.3.2.1", 1)
    ]

    result = map_study(study(), [series("1.2.3.1", "CT", 1), series("1.2.3.2", "CT", 2)], instances)

    assert (result["numberOfSeries"], result["numberOfInstances"]) == (2, 4)
    assert [entry["numberOfInstances"] for entry in result["series"]] == [3, 1]


def test_study_instance_count_sums_series_counts_from_the_query() -> None:
    series_list = [
        series("1.2.3.1", "CT", 1, t00201209=el("IS", 120)),
        series("1.2.3.2", "CT", 2, t00201209=el("IS", 80)),
    ]

    result = map_study(study(), series_list)

    assert (result["numberOfSeries"], result["numberOfInstances"]) == (2, 200)


def test_study_instance_count_unknown_when_a_series_count_is_unknown() -> None:
    series_list = [series("1.2.3.1", "CT", 1, t00201209=el("IS", 120)), series("1.2.3.2", "CT", 2)]

    result = map_study(study(), series_list)

    assert result["numberOfSeries"] == 2
    assert "numberOfInstances" not in result
    assert "numberOfInstances" not in result["series"][1]


def test_negative_counts_are_ignored() -> None:
    result = map_study(study(t00201206=el("IS", -1), t00201208=el("IS", -5)))

    assert "numberOfSeries" not in result
    assert "numberOfInstances" not in result


def test_empty_series_list_gives_no_series_and_no_counts() -> None:
    result = map_study(study(t00081030=el("LO", "Thorax")), [], [])

    assert "series" not in result
    assert "numberOfSeries" not in result
    assert "numberOfInstances" not in result
    assert result["description"] == "Thorax"


def test_reported_zero_counts_are_kept() -> None:
    result = map_study(study(t00201206=el("IS", 0), t00201208=el("IS", 0)))

    assert (result["numberOfSeries"], result["numberOfInstances"]) == (0, 0)


# --- descriptive study attributes ------------------------------------------------------------------------


def test_description() -> None:
    assert map_study(study(t00081030=el("LO", "CT Thorax")))["description"] == "CT Thorax"


@pytest.mark.parametrize(
    ("pn", "display"),
    [
        ({"Alphabetic": "Doe^John"}, "John Doe"),
        ({"Alphabetic": "Müller^Zoë^Anna^Dr.^MD"}, "Dr. Zoë Anna Müller MD"),
        ({"Ideographic": "山田^太郎"}, "山田 太郎"),
        ({"Alphabetic": "Yamada^Tarou", "Ideographic": "山田^太郎"}, "Tarou Yamada"),
        ({"Alphabetic": "RADIOLOGY DEPT"}, "RADIOLOGY DEPT"),
    ],
)
def test_referrer_is_a_reference_with_the_readable_name(pn: Json, display: str) -> None:
    assert map_study(study(t00080090=el("PN", pn)))["referrer"] == {"display": display}


def test_no_referrer_for_an_empty_name() -> None:
    assert "referrer" not in map_study(study(t00080090={"vr": "PN"}))
    assert "referrer" not in map_study(study(t00080090=el("PN", {"Alphabetic": "^^^^"})))


def test_procedure_codes_one_concept_per_item() -> None:
    items = [
        {"00080100": el("SH", "24627-2"), "00080102": el("SH", "LN"), "00080104": el("LO", "CT Chest")},
        {"00080100": el("SH", "CTTHX"), "00080102": el("SH", "99RIS"), "00080104": el("LO", "CT Thorax KM")},
        {
            "00080100": el("SH", "77477000"),
            "00080102": el("SH", "SCT"),
            "00080103": el("SH", "2024-01"),
            "00080104": el("LO", "Computerized axial tomography"),
        },
        {"00080120": el("UR", "urn:example:proc:1"), "00080104": el("LO", "URN coded")},
        {"00080104": el("LO", "Meaning only")},
        {"00080102": el("SH", "DCM")},
    ]

    result = map_study(study(t00081032=el("SQ", *items)))

    assert result["procedureCode"] == [
        {
            "coding": [{"system": "http://loinc.org", "code": "24627-2", "display": "CT Chest"}],
            "text": "CT Chest",
        },
        {"coding": [{"code": "CTTHX", "display": "CT Thorax KM"}], "text": "CT Thorax KM"},
        {
            "coding": [
                {
                    "system": SNOMED,
                    "version": "2024-01",
                    "code": "77477000",
                    "display": "Computerized axial tomography",
                }
            ],
            "text": "Computerized axial tomography",
        },
        {
            "coding": [{"system": "urn:ietf:rfc:3986", "code": "urn:example:proc:1", "display": "URN coded"}],
            "text": "URN coded",
        },
        {"text": "Meaning only"},
    ]


def test_reason_codes_from_top_level_and_request_attributes_without_duplicates() -> None:
    requests = [
        {"00401002": el("LO", "Verdacht auf Lungenembolie")},
        {"00401002": el("LO", "Dyspnoe")},
    ]

    result = map_study(study(t00401002=el("LO", "Verdacht auf Lungenembolie"), t00400275=el("SQ", *requests)))

    assert result["reasonCode"] == [{"text": "Verdacht auf Lungenembolie"}, {"text": "Dyspnoe"}]


def test_location_display_from_institutional_department() -> None:
    assert map_study(study(t00081040=el("LO", "Radiologie Nord")))["location"] == {
        "display": "Radiologie Nord"
    }
    assert "location" not in map_study(study(t00081040={"vr": "LO"}))


def test_study_attributes_missing_from_the_query_are_read_from_instance_metadata() -> None:
    metadata = instance(
        "1.2.3.1",
        "1.2.3.1.1",
        1,
        t00080060=el("CS", "CT"),
        t00080020=el("DA", "20240307"),
        t00080030=el("TM", "0800"),
        t00080201=el("SH", "+0100"),
        t00081030=el("LO", "from the instance"),
    )

    result = map_study(study(t00081030=el("LO", "from the query")), [], [metadata])

    assert result["started"] == "2024-03-07T08:00:00+01:00"
    assert result["description"] == "from the query"


# --- series ----------------------------------------------------------------------------------------------


def test_series_uid_is_plain_without_urn_prefix() -> None:
    result = map_study(study(), [series("1.2.3.4.5", "CT", 1)])

    assert result["series"][0]["uid"] == "1.2.3.4.5"


def test_series_number_modality_description() -> None:
    result = map_study(study(), [series("1.2.3.1", "MR", 7, t0008103E=el("LO", "T2 TSE tra"))])

    assert result["series"] == [
        {
            "uid": "1.2.3.1",
            "number": 7,
            "modality": {"system": DCM, "code": "MR", "display": "Magnetic Resonance"},
            "description": "T2 TSE tra",
        }
    ]


def test_missing_series_number_is_absent_and_sorts_last() -> None:
    series_list = [series("1.2.3.9", "CT"), series("1.2.3.2", "CT", 2), series("1.2.3.1", "CT", 1)]

    result = map_study(study(), series_list)

    assert [(entry["uid"], entry.get("number")) for entry in result["series"]] == [
        ("1.2.3.1", 1),
        ("1.2.3.2", 2),
        ("1.2.3.9", None),
    ]


def test_series_body_site_is_a_display_only_coding() -> None:
    result = map_study(study(), [series("1.2.3.1", "CT", 1, t00180015=el("CS", "CHEST"))])

    assert result["series"][0]["bodySite"] == {"display": "CHEST"}


@pytest.mark.parametrize(
    ("laterality", "coding"),
    [
        ("L", {"system": SNOMED, "code": "7771000", "display": "Left"}),
        ("R", {"system": SNOMED, "code": "24028007", "display": "Right"}),
        ("r", {"system": SNOMED, "code": "24028007", "display": "Right"}),
        ("B", None),
        ("", None),
    ],
)
def test_series_laterality(laterality: str, coding: Json | None) -> None:
    result = map_study(study(), [series("1.2.3.1", "MG", 1, t00200060=el("CS", laterality))])

    assert result["series"][0].get("laterality") == coding


def test_series_started_uses_its_own_offset_else_the_studys() -> None:
    given = study(t00080201=el("SH", "+0100"))
    series_list = [
        series("1.2.3.1", "CT", 1, t00080021=el("DA", "20240307"), t00080031=el("TM", "141600.75")),
        series(
            "1.2.3.2",
            "CT",
            2,
            t00080021=el("DA", "20240307"),
            t00080031=el("TM", "1417"),
            t00080201=el("SH", "+0200"),
        ),
        series("1.2.3.3", "CT", 3, t00080021=el("DA", "20240307")),
        series("1.2.3.4", "CT", 4, t00080031=el("TM", "1417")),
    ]

    result = map_study(given, series_list)

    assert [entry.get("started") for entry in result["series"]] == [
        "2024-03-07T14:16:00.75+01:00",
        "2024-03-07T14:17:00+02:00",
        "2024-03-07",
        None,
    ]


def test_series_without_modality_is_refused() -> None:
    with pytest.raises(DicomMappingError, match="Modality"):
        map_study(study(), [series("1.2.3.1", None, 1)])


def test_series_without_uid_is_refused() -> None:
    with pytest.raises(DicomMappingError, match="SeriesInstanceUID"):
        map_study(study(), [{"00080060": el("CS", "CT")}])


def test_series_of_another_study_is_refused() -> None:
    other = series("1.2.3.1", "CT", 1, t0020000D=el("UI", "9.9.9"))

    with pytest.raises(DicomMappingError, match=re.escape("9.9.9")):
        map_study(study(), [other])


def test_series_known_only_from_instance_metadata_takes_its_attributes_from_there() -> None:
    metadata = [
        instance(
            "1.2.3.1",
            "1.2.3.1.2",
            2,
            t00080060=el("CS", "MG"),
            t00200011=el("IS", "4"),
            t0008103E=el("LO", "L CC"),
            t00180015=el("CS", "BREAST"),
        ),
        instance("1.2.3.1", "1.2.3.1.1", 1, t00080060=el("CS", "MG"), t00200060=el("CS", "L")),
    ]

    result = map_study(study(), [], metadata)

    assert result["series"] == [
        {
            "uid": "1.2.3.1",
            "number": 4,
            "modality": {"system": DCM, "code": "MG", "display": "Mammography"},
            "description": "L CC",
            "numberOfInstances": 2,
            "bodySite": {"display": "BREAST"},
            "laterality": {"system": SNOMED, "code": "7771000", "display": "Left"},
            "instance": [
                {
                    "uid": "1.2.3.1.1",
                    "sopClass": {"system": "urn:ietf:rfc:3986", "code": f"urn:oid:{CT_IMAGE_STORAGE}"},
                    "number": 1,
                },
                {
                    "uid": "1.2.3.1.2",
                    "sopClass": {"system": "urn:ietf:rfc:3986", "code": f"urn:oid:{CT_IMAGE_STORAGE}"},
                    "number": 2,
                },
            ],
        }
    ]


def test_query_series_attributes_win_over_instance_metadata() -> None:
    qido = series("1.2.3.1", "CT", 1, t0008103E=el("LO", "from QIDO"))
    metadata = instance(
        "1.2.3.1", "1.2.3.1.1", 1, t00080060=el("CS", "CT"), t0008103E=el("LO", "from metadata")
    )

    assert map_study(study(), [qido], [metadata])["series"][0]["description"] == "from QIDO"


# --- instances -------------------------------------------------------------------------------------------


def test_instance_uid_sop_class_and_number() -> None:
    result = map_study(study(), [series("1.2.3.1", "CT", 1)], [instance("1.2.3.1", "1.2.3.1.7", 7)])

    assert result["series"][0]["instance"] == [
        {
            "uid": "1.2.3.1.7",
            "sopClass": {"system": "urn:ietf:rfc:3986", "code": "urn:oid:1.2.840.10008.5.1.4.1.1.2"},
            "number": 7,
        }
    ]


def test_instances_sorted_by_number_unnumbered_last() -> None:
    instances = [
        instance("1.2.3.1", "1.2.3.1.9"),
        instance("1.2.3.1", "1.2.3.1.2", 2),
        instance("1.2.3.1", "1.2.3.1.1", 1),
    ]

    result = map_study(study(), [series("1.2.3.1", "CT", 1)], instances)

    assert [entry["uid"] for entry in result["series"][0]["instance"]] == [
        "1.2.3.1.1",
        "1.2.3.1.2",
        "1.2.3.1.9",
    ]
    assert "number" not in result["series"][0]["instance"][2]


def test_duplicate_instances_count_once() -> None:
    duplicate = instance("1.2.3.1", "1.2.3.1.1", 1)

    result = map_study(study(), [series("1.2.3.1", "CT", 1)], [duplicate, copy.deepcopy(duplicate)])

    assert result["series"][0]["numberOfInstances"] == 1
    assert len(result["series"][0]["instance"]) == 1


@pytest.mark.parametrize(
    ("elements", "title"),
    [
        ({"t00700080": el("CS", "LIVER_SEG")}, "LIVER_SEG"),
        (
            {
                "t0040A043": el(
                    "SQ", {"00080100": el("SH", "18748-4"), "00080104": el("LO", "Imaging report")}
                )
            },
            "Imaging report",
        ),
        ({"t00420010": el("ST", "Referral letter")}, "Referral letter"),
        ({"t00080008": el("CS", "ORIGINAL", "PRIMARY")}, None),
    ],
    ids=["content label", "concept name", "document title", "image type is no title"],
)
def test_instance_title(elements: dict[str, Json], title: str | None) -> None:
    result = map_study(
        study(), [series("1.2.3.1", "SR", 1)], [instance("1.2.3.1", "1.2.3.1.1", 1, **elements)]
    )

    assert result["series"][0]["instance"][0].get("title") == title


def test_instance_without_sop_class_is_refused() -> None:
    bad = {"0020000E": el("UI", "1.2.3.1"), "00080018": el("UI", "1.2.3.1.1")}

    with pytest.raises(DicomMappingError, match="SOPClassUID"):
        map_study(study(), [series("1.2.3.1", "CT", 1)], [bad])


def test_instance_without_series_uid_is_refused() -> None:
    bad = {"00080018": el("UI", "1.2.3.1.1"), "00080016": el("UI", CT_IMAGE_STORAGE)}

    with pytest.raises(DicomMappingError, match="SeriesInstanceUID"):
        map_study(study(), [], [bad])
