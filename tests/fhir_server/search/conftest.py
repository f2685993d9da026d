"""Fixtures for the search tests (helpers in search_support.py, next to this file)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.fhir_server.search.search_support import Seeder


@pytest.fixture(scope="module")
def module_client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=30, headers={"Accept": "application/fhir+json"}) as c:
        yield c


@pytest.fixture(scope="module")
def seeder(module_client: httpx.Client) -> Seeder:
    return Seeder(module_client)
