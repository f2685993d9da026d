"""The schema table (`fhir_server.storage.schema`) is complete: every collection a module names is in it, and
the server's start-up (`ensure_schema`) created every index it declares, dropped the retired ones and ran the
migrations (`fhir_server.storage.migrations`) once."""

from __future__ import annotations

import ast
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fhir_server.resource_types import MODELS
from fhir_server.search.index import SearchIndexer, search_indexes
from fhir_server.search.migration import key_format
from fhir_server.settings import Settings
from fhir_server.storage.connection import DatabaseConnection, connect
from fhir_server.storage.migrations import add_version_fields
from fhir_server.storage.schema import (
    FEATURE_COLLECTIONS,
    RESOURCE_INDEXES,
    RETIRED_INDEXES,
    STANDALONE_COLLECTIONS,
    Index,
    collection_names,
    ensure_schema,
)
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
    for name, standalone in STANDALONE_COLLECTIONS.items():
        expected[name] = (*standalone.indexes, *search_indexes(standalone.resource_type))
    for name, indexes in expected.items():
        present = connection.db.get_collection(name).index_information()
        missing += [f"{name}.{index.name}" for index in indexes if index.name not in present]
    assert missing == []
    assert "search_keys" in connection.db.get_collection("audit_events").index_information()


def test_start_up_drops_retired_indexes(connection: DatabaseConnection) -> None:
    events = connection.db.get_collection("audit_events")
    events.create_indexes([Index("type", (("types", 1), ("ts", -1))).model()])  # as an older server made it
    assert "type" in events.index_information()
    ensure_schema(connection, list(MODELS), search_indexes, None)
    for name, retired in RETIRED_INDEXES.items():
        assert not set(retired) & set(connection.db.get_collection(name).index_information()), name


@pytest.fixture
def scratch(connection: DatabaseConnection) -> Iterator[str]:
    name = f"test_standalone_{uuid.uuid4().hex[:8]}"
    yield name
    connection.db.drop_collection(name)
    connection.db.get_collection("search_meta").delete_one({"_id": f"version-fields:{name}"})


def test_documents_stored_without_version_fields_get_them_once(
    connection: DatabaseConnection, scratch: str
) -> None:
    event = {"resourceType": "AuditEvent", "id": "old-1", "recorded": "2020-01-01T00:00:00.000Z"}
    event |= {"meta": {"lastUpdated": "2020-01-01T00:00:00.000Z"}, "outcome": "0"}
    recorded = datetime(2020, 1, 1, tzinfo=UTC)
    collection = connection.db.get_collection(scratch)
    collection.insert_one({"_id": "old-1", "ts": recorded, "agents": ["alice"], "res": event})
    collection.insert_one({"_id": "new-1", "id": "new-1", "v": 1, "cur": True, "del": False, "res": event})
    key_format_ = key_format(SearchIndexer())
    assert add_version_fields(connection, {scratch: "AuditEvent"}, key_format_) == 1
    doc = collection.find_one({"_id": "old-1"})
    assert doc is not None
    assert (doc["id"], doc["v"], doc["cur"], doc["del"], doc["m"]) == ("old-1", 1, True, False, "POST")
    assert "outcome:code=0" in doc["sp"]["k"] and doc["res"] == event and doc["agents"] == ["alice"]
    # Recorded as done: a later start does not look again (one point read).
    collection.insert_one({"_id": "old-2", "res": {**event, "id": "old-2"}})
    assert add_version_fields(connection, {scratch: "AuditEvent"}, key_format_) == 0
    assert "cur" not in (collection.find_one({"_id": "old-2"}) or {})
