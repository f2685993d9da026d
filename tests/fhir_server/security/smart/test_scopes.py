"""SMART scope grammar (App Launch 2.2 §scopes-for-requesting-fhir-resources): v2 letters, v1 names,
filters; malformed scopes grant nothing; coverage and narrowing never widen."""

from __future__ import annotations

import pytest

from fhir_server.security.enforcement.scopes import ScopeSet, parse_resource_scope


@pytest.mark.parametrize(
    ("text", "letters"),
    [
        ("patient/Patient.r", "r"),
        ("patient/*.cruds", "cruds"),
        ("user/ImagingStudy.rs", "rs"),
        ("system/Endpoint.cud", "cud"),
        ("patient/*.read", "rs"),  # v1
        ("patient/*.write", "cud"),  # v1: write never implies read
        ("user/*.*", "cruds"),  # v1
    ],
)
def test_permissions(text: str, letters: str) -> None:
    scope = parse_resource_scope(text)
    assert scope is not None and scope.permissions == frozenset(letters)


@pytest.mark.parametrize(
    "text",
    [
        "patient/*.dus",
        "patient/*.sr",
        "patient/*.rr",
        "patient/*.x",
        "patient/*.",
        "doctor/*.rs",
        "patient/.rs",
        "patient/*.cruds?",
        "patient/*.readwrite",
        "Patient.rs",
        "patient/patient.rs",
    ],
)
def test_malformed_scopes_grant_nothing(text: str) -> None:
    assert parse_resource_scope(text) is None
    assert ScopeSet.parse(text).resource == ()


def test_filters_are_parsed_and_only_narrow() -> None:
    scope = parse_resource_scope("patient/ImagingStudy.rs?modality=CT&status=available")
    assert scope is not None and scope.filters == (("modality", "CT"), ("status", "available"))
    granted = ScopeSet.parse("patient/ImagingStudy.rs?modality=CT")
    assert granted.covers("patient/ImagingStudy.r?modality=CT")
    assert granted.covers("patient/ImagingStudy.r?modality=CT&status=available")
    assert not granted.covers("patient/ImagingStudy.r")  # dropping the filter would widen


def test_coverage() -> None:
    granted = ScopeSet.parse("patient/*.rs user/ImagingStudy.cruds openid")
    assert granted.covers("patient/Patient.r")
    assert granted.covers("user/ImagingStudy.d")
    assert granted.covers("openid")
    assert not granted.covers("patient/Patient.c")
    assert not granted.covers("user/Patient.r")  # another context
    assert not granted.covers("system/Patient.r")
    assert not granted.covers("fhirUser")


def test_narrow_keeps_order_drops_unknown_and_uncovered() -> None:
    allowed = ScopeSet.parse("launch/patient patient/*.rs offline_access")
    assert allowed.narrow("patient/Patient.r bogus patient/*.cruds offline_access launch/patient") == (
        "patient/Patient.r offline_access launch/patient"
    )
    assert allowed.narrow("patient/*.dus") == ""
