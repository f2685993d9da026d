"""The registry loaded from the shipped JSON (fhir_server/search/data) is the one that was written by hand in
Python: `golden/registry.json` was dumped from it before the move (`golden/dump_registry.py`). The index keys
stored in the database follow from these fields, so any difference would change them."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from fhir_server.search.registry import SEARCH_PARAMETERS, SearchParam

GOLDEN = Path(__file__).parent / "golden" / "registry.json"


def _golden() -> dict[str, list[dict[str, Any]]]:
    data: dict[str, list[dict[str, Any]]] = json.loads(GOLDEN.read_text(encoding="utf-8"))
    return data


def test_the_same_types_in_the_same_order() -> None:
    assert list(SEARCH_PARAMETERS) == list(_golden())


@pytest.mark.parametrize("resource_type", list(_golden()))
def test_the_same_parameters_in_the_same_order(resource_type: str) -> None:
    # The order shows in the CapabilityStatement's include lists and in which parameter a search tries first.
    golden = [entry["name"] for entry in _golden()[resource_type]]
    assert list(SEARCH_PARAMETERS[resource_type]) == golden


@pytest.mark.parametrize(
    ("resource_type", "name"),
    [(resource_type, entry["name"]) for resource_type, entries in _golden().items() for entry in entries],
)
def test_every_field_of_every_parameter(resource_type: str, name: str) -> None:
    golden = next(entry for entry in _golden()[resource_type] if entry["name"] == name)
    param = SEARCH_PARAMETERS[resource_type][name]
    fields = [field.name for field in dataclasses.fields(SearchParam)]
    # A field added to SearchParam must be added to the golden file too (and so be decided for every entry).
    assert sorted(golden) == sorted(fields)
    for field in fields:
        value = getattr(param, field)
        expected = golden[field]
        if isinstance(value, tuple):
            assert isinstance(expected, list), field
            expected = tuple(expected)
        assert (field, value) == (field, expected), f"{resource_type}.{name}.{field}"
        assert type(value) is type(expected), f"{resource_type}.{name}.{field}"
