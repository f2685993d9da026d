"""Date search (https://hl7.org/fhir/R4/search.html#date): stored values and search values are intervals
at their precision; each prefix follows the R4 table; time zones are honoured; repeat = AND, comma = OR.

Birth dates of the seeded patients: a=1990 (the whole year), b=1990-05, c=1990-05-15, d=1991-01-01,
e=1989-12-31, g=1950-06-01, m has none.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.fhir_server.search.search_support import Seeder

BIRTH = {
    "a": "1990",
    "b": "1990-05",
    "c": "1990-05-15",
    "d": "1991-01-01",
    "e": "1989-12-31",
    "g": "1950-06-01",
}


@pytest.fixture(scope="module", autouse=True)
def data(seeder: Seeder) -> None:
    for name, birth in BIRTH.items():
        seeder.put(name, {"resourceType": "Patient", "birthDate": birth})
    seeder.put("m", {"resourceType": "Patient"})
    # 2020-03-01T01:30+02:00 is 2020-02-29T23:30Z: the day in UTC is the 29th.
    seeder.put("x", {"resourceType": "Patient", "deceasedDateTime": "2020-03-01T01:30:00+02:00"})
    for name, started in {
        "s1": "2024-01-15T10:30:00Z",
        "s2": "2024-01-15T23:59:59.999Z",
        "s3": "2024-01-16T00:00:00Z",
        "s4": "2024-01-15T10:30:00-05:00",  # 15:30Z
    }.items():
        seeder.put(
            name,
            {
                "resourceType": "ImagingStudy",
                "status": "available",
                "subject": {"reference": "Patient/x"},
                "started": started,
            },
        )


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("birthdate=1990", {"a", "b", "c"}),
        ("birthdate=eq1990", {"a", "b", "c"}),
        ("birthdate=ne1990", {"d", "e", "g"}),
        ("birthdate=gt1990", {"d"}),
        ("birthdate=lt1990", {"e", "g"}),
        ("birthdate=ge1990", {"a", "b", "c", "d"}),
        ("birthdate=le1990", {"a", "b", "c", "e", "g"}),
        ("birthdate=sa1990", {"d"}),
        ("birthdate=eb1990", {"e", "g"}),
        ("birthdate=1990-05", {"b", "c"}),
        ("birthdate=ne1990-05", {"a", "d", "e", "g"}),
        ("birthdate=gt1990-05", {"a", "d"}),
        ("birthdate=lt1990-05", {"a", "e", "g"}),
        ("birthdate=ge1990-05", {"a", "b", "c", "d"}),
        ("birthdate=le1990-05", {"a", "b", "c", "e", "g"}),
        ("birthdate=sa1990-05", {"d"}),
        ("birthdate=eb1990-05", {"e", "g"}),
        ("birthdate=1990-05-15", {"c"}),
        ("birthdate=1990-05-15T12:00:00Z", set()),
        ("birthdate=ap1990-05-15", {"a", "b", "c", "d", "e"}),
        ("birthdate=ge1990&birthdate=lt1991", {"a", "b", "c"}),
        ("birthdate=1989-12-31,1991-01-01", {"d", "e"}),
        ("birthdate:missing=true", {"m", "x"}),
        ("death-date=2020-02-29", {"x"}),
        ("death-date=2020-03-01", set()),
        ("death-date=2020-03-01T01:30:00+02:00", {"x"}),
        ("death-date=gt2020-02-29T23:00:00Z", {"x"}),
        ("death-date=lt2020-02-29T23:00:00Z", set()),
    ],
)
def test_patient_date_prefixes(seeder: Seeder, query: str, expected: set[str]) -> None:
    assert seeder.names("Patient", query) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("started=2024-01-15", {"s1", "s2", "s4"}),
        ("started=2024-01-15T10:30", {"s1"}),
        ("started=2024-01-15T10:30:00Z", {"s1"}),
        ("started=2024-01-15T15:30:00Z", {"s4"}),
        ("started=2024-01-15T10:30:00-05:00", {"s4"}),
        ("started=gt2024-01-15T23:59:59Z", {"s3"}),
        ("started=ge2024-01-15T23:59:59.999Z", {"s2", "s3"}),
        ("started=lt2024-01-15T15:30:00Z", {"s1"}),
        ("started=le2024-01-15T15:30:00Z", {"s1", "s4"}),
        ("started=sa2024-01-15", {"s3"}),
        ("started=eb2024-01-16", {"s1", "s2", "s4"}),
        ("started=2024-01", {"s1", "s2", "s3", "s4"}),
        ("started=ne2024-01-15", {"s3"}),
    ],
)
def test_imaging_study_started(seeder: Seeder, query: str, expected: set[str]) -> None:
    assert seeder.names("ImagingStudy", query) == expected


def test_last_updated(seeder: Seeder) -> None:
    now = datetime.now(UTC)
    earlier = (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    later = (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert seeder.names("ImagingStudy", f"_lastUpdated=gt{earlier}") == {"s1", "s2", "s3", "s4"}
    assert seeder.names("ImagingStudy", f"_lastUpdated=ge{later}") == set()
    assert seeder.names("ImagingStudy", f"_lastUpdated=gt{earlier}&_lastUpdated=lt{later}") == {
        "s1",
        "s2",
        "s3",
        "s4",
    }


def test_a_date_criterion_that_does_not_drive_the_query_is_checked_too(seeder: Seeder) -> None:
    # _id is the most selective clause here, so birthdate is tested on the candidates, not in the index.
    ids = ",".join(seeder.id(n) for n in ("a", "b", "d"))
    assert seeder.names("Patient", f"_id={ids}&birthdate=ge1990-05") == {"a", "b", "d"}
    assert seeder.names("Patient", f"_id={ids}&birthdate=sa1990") == {"d"}


@pytest.mark.parametrize(
    "value",
    ["xx1990", "1990-13", "1990-02-30", "19900101", "tomorrow", "1990-05-15T25:00Z", "ge"],
)
def test_malformed_dates_and_prefixes_are_400_naming_the_parameter(seeder: Seeder, value: str) -> None:
    outcome = seeder.error("Patient", f"birthdate={value}")
    assert outcome["issue"][0]["expression"] == ["birthdate"]


def test_date_parameters_take_only_missing_as_modifier(seeder: Seeder) -> None:
    assert seeder.error("Patient", "birthdate:exact=1990")["issue"][0]["expression"] == ["birthdate:exact"]
