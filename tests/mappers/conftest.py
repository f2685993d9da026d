"""Shared fixtures for the mapper tests: golden files and pydicom's bundled DICOM test files."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydicom import Dataset, dcmread
from pydicom.data import get_charset_files, get_testdata_file

GOLDEN = Path(__file__).parent / "golden"


def _load_golden(name: str) -> Any:
    return json.loads((GOLDEN / name).read_text(encoding="utf-8"))


@pytest.fixture
def golden() -> Callable[[str], Any]:
    """Reads an expected output (or a canned input) from tests/mappers/golden/."""
    return _load_golden


@pytest.fixture
def pydicom_file() -> Callable[[str], Dataset]:
    """Reads one of the DICOM files shipped inside pydicom, never downloading one."""

    def read(name: str) -> Dataset:
        path = get_testdata_file(name, download=False)
        if path is None:
            charset_paths = get_charset_files(name)
            path = charset_paths[0] if charset_paths else None
        assert path is not None, f"{name} is not shipped with this pydicom"
        return dcmread(path)

    return read
