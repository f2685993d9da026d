"""The leak matrix's one server, shared by the module: set-up (demo data, three local Orthancs, tokens and
browser sessions) is its one slow part, ~10 s."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fhir_server.security.leak_server import Matrix, running_matrix


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    with running_matrix(tmp_path_factory.mktemp("leak-matrix") / "data") as running:
        yield running
