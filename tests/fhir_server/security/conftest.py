"""The leak matrix's one server, shared by the module: set-up (demo data, three local Orthancs, tokens and
browser sessions) is its one slow part, ~10 s."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# importlib import mode puts no test directory on sys.path: these helpers, and the SMART tests' browser.
HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "auth"))
sys.path.insert(0, str(HERE))

from leak_server import Matrix, running_matrix  # noqa: E402


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    with running_matrix(tmp_path_factory.mktemp("leak-matrix") / "data") as running:
        yield running
