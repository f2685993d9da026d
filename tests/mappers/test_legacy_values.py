"""Cleaning single legacy values: dates, genders, markup, ids. Row-level rules are in test_legacy.py."""

from datetime import timedelta, timezone

import pytest

from mappers import legacy_values
from mappers.legacy_values import (
    EAST_AFRICA_TIME,
    canonical_national_id,
    clean_text,
    fhir_date,
    fhir_datetime,
    fhir_gender,
    legacy_fhir_id,
    strip_markup,
)


@pytest.mark.parametrize(
    ("legacy", "expected"),
    [
        ("1990-05-15", "1990-05-15"),
        ("25/06/2021", "2021-06-25"),  # day first, as every unambiguous slashed value in the database
        ("08/05/1940", "1940-05-08"),
        ("1990-05-15 00:00:00", "1990-05-15"),  # a birth date stored as a midnight timestamp
        ("1990-05-15T08:30:00", "1990-05-15"),
        ("  1990-05-15  ", "1990-05-15"),
    ],
)
def test_birth_date_from_every_legacy_format(legacy: str, expected: str) -> None:
    assert fhir_date(legacy) == expected


@pytest.mark.parametrize(
    "legacy", ["31/02/1990", "06/25/2021", "1990-13-01", "yesterday", "15.05.1990", "1990"]
)
def test_impossible_or_unknown_dates_are_not_guessed(legacy: str) -> None:
    assert fhir_date(legacy) is None
    assert fhir_datetime(legacy, EAST_AFRICA_TIME) is None


@pytest.mark.parametrize(
    ("legacy", "expected"),
    [
        ("2024-01-15 10:30:00", "2024-01-15T10:30:00+03:00"),
        ("2015-04-07T07:36:50", "2015-04-07T07:36:50+03:00"),
        ("2024-11-10", "2024-11-10"),
        ("15/01/2024", "2024-01-15"),
        ("15/01/2024 10:30", "2024-01-15T10:30:00+03:00"),
        ("2024-01-15 10:30", "2024-01-15T10:30:00+03:00"),
        ("2024-01-15 10:30:00.250", "2024-01-15T10:30:00.250000+03:00"),
        ("2024-01-15T10:30:00Z", "2024-01-15T10:30:00+00:00"),
        ("2024-01-15T10:30:00+01:00", "2024-01-15T10:30:00+01:00"),  # an explicit offset wins
    ],
)
def test_study_datetime_from_every_legacy_format_in_east_africa_time(legacy: str, expected: str) -> None:
    assert fhir_datetime(legacy, EAST_AFRICA_TIME) == expected


def test_without_a_zone_a_local_time_keeps_only_its_day() -> None:
    assert fhir_datetime("2024-01-15 23:30:00", None) == "2024-01-15"
    assert fhir_datetime("2024-01-15T23:30:00+01:00", None) == "2024-01-15T23:30:00+01:00"


def test_another_hospital_zone_can_be_given() -> None:
    assert fhir_datetime("2024-01-15 10:30:00", timezone(timedelta(hours=2))) == "2024-01-15T10:30:00+02:00"


@pytest.mark.parametrize(
    ("legacy", "expected"),
    [
        ("M", "male"),
        ("m", "male"),
        ("male", "male"),
        ("Male", "male"),
        ("F", "female"),
        ("f", "female"),
        ("Female", "female"),
        ("FEMALE", "female"),
        ("O", "other"),
        ("other", "other"),
        ("U", "unknown"),
        ("unknown", "unknown"),
        (" M ", "male"),
        ("X", None),
        ("Mann", None),
        ("", None),
    ],
)
def test_gender_spellings(legacy: str, expected: str | None) -> None:
    assert fhir_gender(legacy) == expected


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        ("<b>Chest</b> X-ray <script>alert(1)</script>", "Chest X-ray"),
        ("Follow-up <script>alert(1)</script>", "Follow-up"),
        ("Follow-up <script>alert(1)", "Follow-up"),  # an unclosed script hides the rest, never shows it
        ("<SCRIPT type='text/javascript'>steal()</SCRIPT>Knee MRI", "Knee MRI"),
        ("<style>p { color: red }</style>CT Abdomen", "CT Abdomen"),
        ("Chest<br>X-ray", "Chest X-ray"),
        ("<p>Knee</p><p>MRI</p>", "Knee MRI"),
        ("<i>X</i>-ray", "X-ray"),
        ("Head &amp; neck &lt;CT&gt;", "Head & neck <CT>"),
        ("Lesion size<5mm", "Lesion size<5mm"),  # a '<' that starts no tag is text
        ('<img src=x onerror="alert(1)">Hand X-Ray', "Hand X-Ray"),
        ("Hand <!-- internal --> X-Ray", "Hand X-Ray"),
        ("Schädel   CT", "Schädel CT"),
    ],
)
def test_markup_is_stripped_to_visible_text(markup: str, text: str) -> None:
    assert strip_markup(markup) == text


@pytest.mark.parametrize(
    ("legacy_id", "fhir_id"),
    [
        ("HOS-001", "legacy-hos-001"),
        ("PAT-901234", "legacy-pat-901234"),
        ("PAT-819093-4", "legacy-pat-819093-4"),
        ("STU-20240115103000", "legacy-stu-20240115103000"),
        ("PAT 1", None),
        ("PAT/1", None),
        ("PAT-Ö", None),
        ("P" * 48, "legacy-" + "p" * 48),
        ("P" * 49, None),  # "legacy-" + 49 + "-dicomweb" would pass FHIR's 64
    ],
)
def test_fhir_id_from_legacy_id(legacy_id: str, fhir_id: str | None) -> None:
    assert legacy_fhir_id(legacy_id) == fhir_id


def test_national_id_canonical_form_ignores_spacing_and_case() -> None:
    assert canonical_national_id(" 1990 1234 ab ") == canonical_national_id("19901234AB") == "19901234AB"


def test_null_and_blank_are_both_absent() -> None:
    row = {"a": None, "b": "", "c": "  ", "d": " x ", "e": 42}
    assert [clean_text(row, column) for column in "abcdef"] == [None, None, None, "x", "42", None]


def _by_format_list(text: str) -> object:
    """parse_legacy_date without its ISO fast path: the format list alone."""
    for date_format in legacy_values._DATE_FORMATS:
        if (parsed := legacy_values._strptime(text, date_format)) is not None:
            return parsed.date()
    for datetime_format in legacy_values._DATETIME_FORMATS:
        if (parsed := legacy_values._strptime(text, datetime_format)) is not None:
            return parsed
    return None


@pytest.mark.parametrize(
    "text",
    [
        *(
            f"{year}-{month}-{day}{time}"
            for year in ("2024", "1999", "0001", "0000")
            for month in ("01", "02", "12", "13", "00", "1")
            for day in ("01", "29", "30", "31", "00", "5")
            for time in ("", " 00:00:00", "T23:59:59", " 24:00:00", " 12:60:00", " 12:00:60", " 1:2:3")
        ),
        "2024-01-15 10:30:00.123",
        "2024-01-15 10:30",
        "2024-01-15t10:30:00",
        "2024-01-15  10:30:00",
        "2024-01-15 10:30:00+03:00",
        "15/01/1980",
        "٢٠٢٤-٠١-١٥",
    ],
)
def test_the_iso_fast_path_reads_exactly_what_the_format_list_reads(text: str) -> None:
    parsed = legacy_values.parse_legacy_date(text)
    expected = _by_format_list(text)
    assert (parsed, type(parsed)) == (expected, type(expected))
