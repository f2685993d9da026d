"""The schema table (`fhir_server.storage.schema`) is complete: every collection a module names is in it, and
the server's start-up (`ensure_schema`) created every index it declares."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from fhir_server.resource_types import MODELS
from fhir_server.search.index import search_indexes
from fhir_server.settings import Settings
from fhir_server.storage.connection import DatabaseConnection, connect
from fhir_server.storage.schema import FEATURE_COLLECTIONS, RESOURCE_INDEXES, collection_names
from tests.server_process import REPO_ROOT, RunningServer

PACKAGE = REPO_ROOT / "fhir_server"
# Calls that open a collection by name: `Documents.collection(name)` and the driver's `get_collection`.
_OPENERS = {"collection", "get_collection"}
# Where a collection is opened by a computed name: storage itself (the document store's `collection(name)`,
# the per-type resource collections) and the search engine, which reads a resource type's versions through
# `SearchBackend.collection(resource_type)`.
_COMPUTED_NAMES_ALLOWED = {"search/engine.py"}


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts)


def _string_constants() -> dict[str, dict[str, str]]:
    """Module -> {name: value} of its top-level `NAME = "text"` assignments."""
    constants: dict[str, dict[str, str]] = {}
    for path in PACKAGE.rglob("*.py"):
        names: dict[str, str] = {}
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
                for target in node.targets:
                    if isinstance(target, ast.Name) and isinstance(node.value.value, str):
                        names[target.id] = node.value.value
        constants[_module_name(path)] = names
    return constants


def _opened_collections() -> Iterator[tuple[str, int, str | None]]:
    """(file, line, collection name or None when computed) of every call that opens a collection."""
    constants = _string_constants()
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        known = dict(constants[_module_name(path)])
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module in constants:
                for alias in node.names:
                    if alias.name in constants[node.module]:
                        known[alias.asname or alias.name] = constants[node.module][alias.name]
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args):
                continue
            if node.func.attr not in _OPENERS:
                continue
            arg = node.args[0]
            name: str | None = None
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                name = arg.value
            elif isinstance(arg, ast.Name):
                name = known.get(arg.id)
            yield str(path.relative_to(PACKAGE)), node.lineno, name


def test_every_collection_a_module_opens_is_in_the_schema_table() -> None:
    declared = collection_names(list(MODELS))
    opened = list(_opened_collections())
    named = {(where, line, name) for where, line, name in opened if name is not None}
    assert {name for _, _, name in named} >= {"auth_users", "hospital_connections", "search_locks"}  # found
    assert [(where, line, name) for where, line, name in named if name not in declared] == []
    computed = {where for where, _, name in opened if name is None and not where.startswith("storage/")}
    assert computed <= _COMPUTED_NAMES_ALLOWED, computed


@pytest.fixture(scope="module")
def connection(server: RunningServer) -> Iterator[DatabaseConnection]:
    conn = connect(Settings(data_dir=server.data_dir), "cli")
    yield conn
    conn.close()


def test_start_up_created_every_declared_index(connection: DatabaseConnection) -> None:
    missing = []
    expected = {name: indexes for name, indexes in FEATURE_COLLECTIONS.items() if indexes}
    for resource_type in MODELS:
        expected[resource_type] = (*RESOURCE_INDEXES, *search_indexes(resource_type))
    for name, indexes in expected.items():
        present = connection.db.get_collection(name).index_information()
        missing += [f"{name}.{index.name}" for index in indexes if index.name not in present]
    assert missing == []
