"""Request code reaches data only through the secured store (fhir_server.access.store).

Read from the source, so a new route module is covered the day it is written: every module that defines
routes (an `APIRouter`) must not touch the server's own repository (`….repository`), build a search engine
of its own (`SearchEngine(`), import the MongoDB layer, or decide access itself (`policy.decide`). The few
operator routes that act as the server after an admin check are listed with the reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "fhir_server"

# module (relative to fhir_server/) -> why it may use the server's own view after its admin check
OPERATOR_ROUTES = {
    "dicomweb/admin.py": "hospital registration: admin-only operator action, writes as the server",
    "auth/routes_admin.py": "users, clients and launch contexts: admin-only operator actions",
}


def _route_modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "APIRouter(" in p.read_text())


def _violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "repository":
            found.append(f"line {node.lineno}: .repository")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "SearchEngine":
            found.append(f"line {node.lineno}: SearchEngine(...)")
        if isinstance(node, ast.Attribute) and node.attr == "decide":
            found.append(f"line {node.lineno}: policy.decide (access is the store's decision)")
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("fhir_server.storage"):
            found.append(f"line {node.lineno}: imports {node.module}")
    return found


def test_route_modules_are_found() -> None:
    names = {p.relative_to(PACKAGE).as_posix() for p in _route_modules()}
    assert {"api/routes.py", "api/routes_search.py", "dicomweb/proxy.py", "dashboard/routes.py"} <= names


def test_request_code_never_reaches_the_raw_repository() -> None:
    problems = {}
    for path in _route_modules():
        name = path.relative_to(PACKAGE).as_posix()
        if name in OPERATOR_ROUTES:
            continue
        if found := _violations(path):
            problems[name] = found
    assert not problems, f"route modules must use fhir_server.access.store.secured(request): {problems}"


def test_operator_exceptions_still_exist() -> None:
    # A stale exception would silently cover a future module of the same name.
    for name in OPERATOR_ROUTES:
        assert (PACKAGE / name).exists(), name
