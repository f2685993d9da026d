from typing import Any

import pytest
from pydicom.datadict import tag_for_keyword

from mappers.dicom_json import (
    has_value,
    integer,
    items,
    person_name,
    text,
    texts,
    unsigned_integer,
    values,
    with_fallback,
)
from mappers.dicom_tags import Tag


def element(vr: str, *value: Any) -> dict[str, Any]:
    return {"vr": vr, "Value": list(value)}


@pytest.mark.parametrize("tag", list(Tag), ids=lambda tag: tag.name)
def test_every_tag_constant_is_the_tag_of_its_dicom_keyword(tag: Tag) -> None:
    assert f"{tag_for_keyword(tag.name):08X}" == tag.value


def test_tag_constants_are_the_dicom_json_keys() -> None:
    dataset = {"0020000D": element("UI", "1.2.3")}

    assert text(dataset, Tag.StudyInstanceUID) == "1.2.3"


def test_single_value() -> None:
    assert values({"00080060": element("CS", "CT")}, "00080060") == ["CT"]


def test_multi_valued_attribute_keeps_every_value_in_order() -> None:
    dataset = {"00080061": element("CS", "CT", "SR", "PR")}

    assert texts(dataset, "00080061") == ["CT", "SR", "PR"]
    assert text(dataset, "00080061") == "CT"


@pytest.mark.parametrize(
    "dataset",
    [
        {},
        {"00081030": {"vr": "LO"}},
        {"00081030": {"vr": "LO", "Value": []}},
        {"00081030": {"vr": "LO", "Value": [None]}},
        {"00081030": {"vr": "LO", "Value": [""]}},
        {"00081030": {"vr": "LO", "Value": ["   "]}},
        {"00081030": {"vr": "LO", "BulkDataURI": "http://pacs/bulk/1"}},
        {"00081030": "not an element"},
    ],
    ids=["absent", "no Value", "empty Value", "null", "empty string", "blank", "bulk data", "malformed"],
)
def test_missing_value_reads_as_absent(dataset: dict[str, Any]) -> None:
    assert text(dataset, "00081030") is None
    assert texts(dataset, "00081030") == []


def test_has_value_ignores_elements_without_values() -> None:
    assert has_value({"00081030": element("LO", "Chest")}, "00081030")
    assert not has_value({"00081030": {"vr": "LO"}}, "00081030")


def test_text_trims_padding_some_encoders_leave() -> None:
    dataset = {"0020000D": element("UI", "1.2.840.10008.1.2\x00"), "00081030": element("LO", " Chest ")}

    assert text(dataset, "0020000D") == "1.2.840.10008.1.2"
    assert text(dataset, "00081030") == "Chest"


def test_text_of_a_number_is_its_string() -> None:
    assert text({"00200011": element("IS", 7)}, "00200011") == "7"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (3, 3),
        ("12", 12),
        (" 12 ", 12),
        ("+4", 4),
        ("-2", -2),
        (5.0, 5),
        (5.5, None),
        ("1.5", None),
        ("x", None),
    ],
)
def test_integer_accepts_json_numbers_and_the_strings_some_archives_send(
    value: Any, expected: int | None
) -> None:
    assert integer({"00200013": element("IS", value)}, "00200013") == expected


def test_integer_of_missing_or_boolean_value_is_none() -> None:
    assert integer({}, "00200013") is None
    assert integer({"00200013": element("IS", True)}, "00200013") is None


def test_unsigned_integer_drops_negative_values() -> None:
    assert unsigned_integer({"00200011": element("IS", -1)}, "00200011") is None
    assert unsigned_integer({"00200011": element("IS", 0)}, "00200011") == 0


def test_person_name_alphabetic() -> None:
    dataset = {"00100010": element("PN", {"Alphabetic": "Doe^John"})}

    assert person_name(dataset, "00100010") == {"Alphabetic": "Doe^John"}


def test_person_name_keeps_all_three_component_groups() -> None:
    pn = {"Alphabetic": "Yamada^Tarou", "Ideographic": "山田^太郎", "Phonetic": "やまだ^たろう"}

    assert person_name({"00100010": element("PN", pn)}, "00100010") == pn


def test_person_name_drops_empty_groups_and_unknown_keys() -> None:
    pn = {"Alphabetic": "", "Ideographic": "山田^太郎", "Phonetic": "^", "Other": "x"}

    assert person_name({"00100010": element("PN", pn)}, "00100010") == {"Ideographic": "山田^太郎"}


def test_person_name_sent_as_bare_string_is_read_in_dimse_form() -> None:
    dataset = {"00100010": element("PN", "Yamada^Tarou=山田^太郎")}

    assert person_name(dataset, "00100010") == {"Alphabetic": "Yamada^Tarou", "Ideographic": "山田^太郎"}


def test_person_name_takes_the_first_of_several_values() -> None:
    dataset = {"00080090": element("PN", {"Alphabetic": "One^A"}, {"Alphabetic": "Two^B"})}

    assert person_name(dataset, "00080090") == {"Alphabetic": "One^A"}


def test_person_name_missing() -> None:
    assert person_name({"00100010": {"vr": "PN"}}, "00100010") == {}


def test_sequence_items() -> None:
    item = {"00080100": element("SH", "24627-2")}
    dataset = {"00081032": element("SQ", item, "junk")}

    assert items(dataset, "00081032") == [item]
    assert items({}, "00081032") == []


def test_with_fallback_fills_only_what_the_primary_lacks() -> None:
    primary = {"00081030": element("LO", "From QIDO"), "00080201": {"vr": "SH"}}
    first = {"00081030": element("LO", "From instance"), "00080201": element("SH", "+0100")}
    second = {"00080090": element("PN", {"Alphabetic": "Doe^J"}), "00080201": element("SH", "-0500")}

    combined = with_fallback(primary, first, second)

    assert combined == {
        "00081030": element("LO", "From QIDO"),
        "00080201": element("SH", "+0100"),
        "00080090": element("PN", {"Alphabetic": "Doe^J"}),
    }
