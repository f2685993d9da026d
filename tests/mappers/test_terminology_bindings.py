"""Mapper output must pass the server's own write-time terminology checks, not only the FHIR model."""

from collections.abc import Callable
from typing import Any

import pytest

from terminology.bindings import check_bindings
from terminology.local import LocalTerminology


@pytest.fixture(scope="module")
def terminology_service() -> LocalTerminology:
    return LocalTerminology()


@pytest.mark.parametrize(
    "golden_name",
    [
        "qido_ct_with_report.imagingstudy.json",
        "ct_small.imagingstudy.json",
        "mr_small.imagingstudy.json",
        "ct_small_with_report.imagingstudy.json",
        "qido_ct_with_report.patient.json",
        "ct_small.patient.json",
        "chrH31.patient.json",
    ],
)
def test_golden_resources_satisfy_every_binding(
    golden_name: str, golden: Callable[[str], Any], terminology_service: LocalTerminology
) -> None:
    assert check_bindings(golden(golden_name), terminology_service) == []


def test_golden_endpoints_satisfy_every_binding(
    golden: Callable[[str], Any], terminology_service: LocalTerminology
) -> None:
    for endpoint in golden("orthanc.endpoints.json"):
        assert check_bindings(endpoint, terminology_service) == []
