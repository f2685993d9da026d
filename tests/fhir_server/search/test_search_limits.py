"""Limits are answered, never applied silently: a chain or _has step beyond FHIR_MAX_CHAIN_RESULTS is a 400,
includes beyond FHIR_MAX_INCLUDE are cut with an OperationOutcome entry (search.mode=outcome).

Runs its own server with tiny limits.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fhir_server.search.search_support import Seeder, local_names
from tests.server_process import start_server


@pytest.fixture(scope="module")
def seeder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeder]:
    data_dir: Path = tmp_path_factory.mktemp("limits") / "data"
    server = start_server(
        data_dir,
        env={
            "FHIR_MAX_CHAIN_RESULTS": "2",
            "FHIR_MAX_INCLUDE": "2",
            "FHIR_DEFAULT_PAGE_SIZE": "3",
            "FHIR_MAX_PAGE_SIZE": "5",
            "FHIR_MAX_CONDITIONAL_DELETE": "2",
        },
    )
    try:
        with httpx.Client(base_url=server.base_url, timeout=30) as client:
            seeder = Seeder(client)
            for n in range(3):
                seeder.put(f"p{n}", {"resourceType": "Patient", "name": [{"family": "Same"}]})
                seeder.put(
                    f"s{n}",
                    {
                        "resourceType": "ImagingStudy",
                        "status": "available",
                        "subject": {"reference": f"Patient/{seeder.id(f'p{n}')}"},
                    },
                )
            yield seeder
    finally:
        server.stop()


def test_a_chain_beyond_the_limit_is_refused(seeder: Seeder) -> None:
    outcome = seeder.error("ImagingStudy", "patient.family=same")
    assert outcome["issue"][0]["expression"] == ["patient.family"]
    assert "FHIR_MAX_CHAIN_RESULTS" in outcome["issue"][0]["diagnostics"]


def test_has_beyond_the_limit_is_refused(seeder: Seeder) -> None:
    outcome = seeder.error("Patient", "_has:ImagingStudy:patient:status=available")
    assert outcome["issue"][0]["expression"] == ["_has:ImagingStudy:patient:status"]


def test_a_chain_within_the_limit_works(seeder: Seeder) -> None:
    query = f"patient._id={seeder.id('p0')},{seeder.id('p1')}"
    assert seeder.names("ImagingStudy", query) == {"s0", "s1"}


def test_includes_beyond_the_limit_are_cut_with_an_outcome_entry(seeder: Seeder) -> None:
    bundle = seeder.bundle("ImagingStudy", "_include=ImagingStudy:patient")
    assert len(local_names(bundle, seeder.prefix, "include")) == 2
    outcomes = [e for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert len(outcomes) == 1
    issue = outcomes[0]["resource"]["issue"][0]
    assert issue["severity"] == "warning" and "FHIR_MAX_INCLUDE" in issue["diagnostics"]
    within = seeder.bundle("ImagingStudy", "_include=ImagingStudy:patient&_count=2")
    assert not [e for e in within["entry"] if e["search"]["mode"] == "outcome"]


def test_page_size_settings(seeder: Seeder) -> None:
    assert len(seeder.bundle("ImagingStudy")["entry"]) == 3
    assert len(seeder.bundle("Patient", "_count=50")["entry"]) == 3  # capped at 5; only 3 exist


def test_conditional_delete_beyond_the_limit_deletes_nothing(seeder: Seeder) -> None:
    response = seeder.client.delete("/Patient", params={"family": "same"})
    assert response.status_code == 412
    assert "FHIR_MAX_CONDITIONAL_DELETE" in response.json()["issue"][0]["diagnostics"]
    assert len(seeder.names("Patient")) == 3
