"""Unit tests of the value handling under search: date intervals, string folding, Soundex, index keys."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fhir_server.search.dates import format_instant, parse_interval, period_interval
from fhir_server.search.extract import resource_keys
from fhir_server.search.normalize import fold, soundex
from fhir_server.search.references import normalize_reference
from fhir_server.search.values import split_unescaped, unescape


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("1990", "1990-01-01T00:00:00.000Z", "1990-12-31T23:59:59.999Z"),
        ("2024-02", "2024-02-01T00:00:00.000Z", "2024-02-29T23:59:59.999Z"),
        ("2023-02", "2023-02-01T00:00:00.000Z", "2023-02-28T23:59:59.999Z"),
        ("1990-05-15", "1990-05-15T00:00:00.000Z", "1990-05-15T23:59:59.999Z"),
        ("2024-01-15T10:30", "2024-01-15T10:30:00.000Z", "2024-01-15T10:30:59.999Z"),
        ("2024-01-15T10:30:05Z", "2024-01-15T10:30:05.000Z", "2024-01-15T10:30:05.999Z"),
        ("2024-01-15T10:30:05.1Z", "2024-01-15T10:30:05.100Z", "2024-01-15T10:30:05.199Z"),
        ("2024-01-15T10:30:05.123456+01:00", "2024-01-15T09:30:05.123Z", "2024-01-15T09:30:05.123Z"),
        ("2020-03-01T01:30:00+02:00", "2020-02-29T23:30:00.000Z", "2020-02-29T23:30:00.999Z"),
        ("0001", "0001-01-01T00:00:00.000Z", "0001-12-31T23:59:59.999Z"),
        ("9999-12-31T23:00:00-05:00", "9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999Z"),
    ],
)
def test_dates_are_intervals_at_their_precision(text: str, low: str, high: str) -> None:
    interval = parse_interval(text)
    assert interval is not None
    assert (format_instant(interval.low), format_instant(interval.high)) == (low, high)


@pytest.mark.parametrize("text", ["", "90", "1990-13", "1990-02-30", "1990-1-1", "1990-05-15T24:00Z", "abc"])
def test_malformed_dates_are_rejected(text: str) -> None:
    assert parse_interval(text) is None


def test_periods_have_open_ends() -> None:
    interval = period_interval("2024-01-01", None)
    assert interval is not None
    assert format_instant(interval.high) == "9999-12-31T23:59:59.999Z"
    interval = period_interval(None, "2024-01")
    assert interval is not None and interval.low == datetime(1, 1, 1, tzinfo=UTC)
    assert format_instant(interval.high) == "2024-01-31T23:59:59.999Z"
    assert period_interval(None, None) is None


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Müller", "muller"),
        ("ÅSE", "ase"),
        ("Søndre  Klinikk", "sondre klinikk"),
        ("Straße", "strasse"),
        ("Ærøskøbing", "aeroskobing"),
        ("Nguyễn", "nguyen"),
    ],
)
def test_strings_are_folded_for_accent_and_case_insensitive_search(text: str, folded: str) -> None:
    assert fold(text) == folded


@pytest.mark.parametrize(
    ("word", "code"),
    [
        ("robert", "R163"),
        ("rupert", "R163"),
        ("ashcraft", "A261"),
        ("tymczak", "T522"),
        ("pfister", "P236"),
        ("hansen", "H525"),
        ("hanson", "H525"),
        ("lee", "L000"),
        ("123", None),
    ],
)
def test_soundex(word: str, code: str | None) -> None:
    assert soundex(word) == code


def test_escaped_separators_are_kept_together() -> None:
    assert split_unescaped(r"a\,b,c", ",") == [r"a\,b", "c"]
    assert split_unescaped(r"sys|va\|lue", "|") == ["sys", r"va\|lue"]
    assert unescape(r"va\|lue\\") == "va|lue\\"


def test_references_are_normalized_to_type_and_id() -> None:
    base = "https://fhir.example.org/fhir"
    assert normalize_reference("Patient/1/_history/2", [base]) == "Patient/1"
    assert normalize_reference(f"{base}/Patient/1", [base]) == "Patient/1"
    assert (
        normalize_reference("https://elsewhere.org/fhir/Patient/1", [base])
        == "https://elsewhere.org/fhir/Patient/1"
    )
    assert normalize_reference("#contained", [base]) is None
    assert normalize_reference("not a reference", [base]) is None


def test_index_keys_of_a_patient() -> None:
    keys, exact = resource_keys(
        {
            "resourceType": "Patient",
            "id": "p1",
            "meta": {"lastUpdated": "2024-01-01T10:00:00.000Z"},
            "name": [{"family": "Müller"}],
            "birthDate": "1990",
            "identifier": [{"system": "urn:s", "value": "1"}],
            "managingOrganization": {"reference": "Organization/o1"},
        }
    )
    assert "family=muller" in keys and "family=Müller" in exact
    assert "identifier=urn:s|1" in keys and "identifier:code=1" in keys
    assert "birthdate:lo=1990-01-01T00:00:00.000Z|1990-12-31T23:59:59.999Z" in keys
    assert "birthdate:hi=1990-12-31T23:59:59.999Z|1990-01-01T00:00:00.000Z" in keys
    assert "organization=Organization/o1" in keys and "_id:code=p1" in keys
    assert "deceased:code=false" in keys
    assert keys == sorted(keys)
