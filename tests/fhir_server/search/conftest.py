"""Fixtures for the search tests (helpers in search_support.py, next to this file)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

# importlib import mode does not put test directories on sys.path; the helper module lives here.
sys.path.insert(0, str(Path(__file__).parent))

from search_support import Seeder


@pytest.fixture(scope="module")
def module_client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=30, headers={"Accept": "application/fhir+json"}) as c:
        yield c


@pytest.fixture(scope="module")
def seeder(module_client: httpx.Client) -> Seeder:
    return Seeder(module_client)
