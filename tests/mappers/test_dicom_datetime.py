from zoneinfo import ZoneInfo

import pytest

from mappers.dicom_datetime import fhir_date, fhir_datetime, fhir_datetime_from_dt, fhir_time, fhir_utc_offset

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("da", "expected"),
    [
        ("20240307", "2024-03-07"),
        (" 20240307 ", "2024-03-07"),
        ("2024.03.07", "2024-03-07"),
        ("20240229", "2024-02-29"),
        ("20230229", None),
        ("20241301", None),
        ("00000000", None),
        ("2024-03-07", None),
        ("202403", None),
        ("", None),
        (None, None),
    ],
)
def test_fhir_date(da: str | None, expected: str | None) -> None:
    assert fhir_date(da) == expected


@pytest.mark.parametrize(
    ("tm", "expected"),
    [
        ("141503", "14:15:03"),
        ("141503.250", "14:15:03.250"),
        ("141503.123456", "14:15:03.123456"),
        ("1415", "14:15:00"),
        ("14", "14:00:00"),
        ("14:15:03.5", "14:15:03.5"),
        ("235960", "23:59:60"),
        ("241500", None),
        ("146000", None),
        ("1415.5", None),
        ("141503.1234567", None),
        ("", None),
        (None, None),
    ],
)
def test_fhir_time(tm: str | None, expected: str | None) -> None:
    assert fhir_time(tm) == expected


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        ("+0100", "+01:00"),
        ("-0500", "-05:00"),
        ("+0000", "+00:00"),
        ("+0545", "+05:45"),
        ("+1400", "+14:00"),
        ("-1200", "-12:00"),
        ("+1430", None),
        ("+0160", None),
        ("0100", None),
        ("+01:00", None),
        (None, None),
    ],
)
def test_fhir_utc_offset(offset: str | None, expected: str | None) -> None:
    assert fhir_utc_offset(offset) == expected


def test_datetime_with_offset() -> None:
    assert fhir_datetime("20240307", "141503", utc_offset="+0100") == "2024-03-07T14:15:03+01:00"


def test_datetime_keeps_fractional_seconds() -> None:
    assert fhir_datetime("20240307", "141503.25", utc_offset="-0500") == "2024-03-07T14:15:03.25-05:00"


def test_datetime_partial_time_gets_zero_seconds() -> None:
    assert fhir_datetime("20240307", "1415", utc_offset="+0000") == "2024-03-07T14:15:00+00:00"


def test_date_without_time_is_date_only() -> None:
    assert fhir_datetime("20240307", None, utc_offset="+0100") == "2024-03-07"
    assert fhir_datetime("20240307", "", utc_offset="+0100") == "2024-03-07"


def test_time_without_any_known_offset_is_dropped_because_fhir_requires_one() -> None:
    assert fhir_datetime("20240307", "141503") == "2024-03-07"


def test_missing_or_bad_date_gives_nothing_even_with_a_time() -> None:
    assert fhir_datetime(None, "141503", utc_offset="+0100") is None
    assert fhir_datetime("20241340", "141503", utc_offset="+0100") is None


def test_unreadable_time_keeps_the_date() -> None:
    assert fhir_datetime("20240307", "99", utc_offset="+0100") == "2024-03-07"


def test_local_timezone_supplies_the_offset_with_daylight_saving() -> None:
    assert fhir_datetime("20240115", "0930", local_timezone=BERLIN) == "2024-01-15T09:30:00+01:00"
    assert fhir_datetime("20240715", "0930", local_timezone=BERLIN) == "2024-07-15T09:30:00+02:00"


def test_dicom_offset_wins_over_local_timezone() -> None:
    result = fhir_datetime("20240715", "0930", utc_offset="+0000", local_timezone=BERLIN)

    assert result == "2024-07-15T09:30:00+00:00"


def test_local_timezone_handles_leap_second() -> None:
    assert fhir_datetime("20161231", "235960", local_timezone=BERLIN) == "2016-12-31T23:59:60+01:00"


@pytest.mark.parametrize(
    ("dt", "expected"),
    [
        ("2024", "2024"),
        ("202403", "2024-03"),
        ("20240307", "2024-03-07"),
        ("2024030714+0100", "2024-03-07T14:00:00+01:00"),
        ("202403071415-0500", "2024-03-07T14:15:00-05:00"),
        ("20240307141503.123456+0100", "2024-03-07T14:15:03.123456+01:00"),
        ("20240307141503", "2024-03-07"),
        ("202413", None),
        ("20240230", None),
        ("2024030725+0100", None),
        ("0000", None),
        ("", None),
        (None, None),
    ],
)
def test_fhir_datetime_from_dt(dt: str | None, expected: str | None) -> None:
    assert fhir_datetime_from_dt(dt) == expected


def test_dt_without_offset_uses_local_timezone() -> None:
    assert fhir_datetime_from_dt("20240715093000", local_timezone=BERLIN) == "2024-07-15T09:30:00+02:00"
