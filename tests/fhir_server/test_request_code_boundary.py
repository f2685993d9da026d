"""Request code reaches data only through the secured store (fhir_server.security.access.store).

Read from the source, so a new route module is covered the day it is written: every module that defines
routes (an `APIRouter`) or handlers of the FHIR route table (fhir_server.rest.routes) must not touch the
server's own repository (`….repository`), build a search engine of its own (`SearchEngine(`), import the
MongoDB layer, or decide access itself (`policy.decide`). The few
operator routes that act as the server after an admin check are listed with the reason. Nothing in the
core or the interactions imports a web framework.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from fhir_server.rest.routes import ROUTES

PACKAGE = Path(__file__).resolve().parents[2] / "fhir_server"
# The framework-free core: HTTP is fhir_server.rest.http_adapter's business, and only its.
FRAMEWORK_FREE = ("core", "interactions")
FRAMEWORKS = ("fastapi", "starlette")

# Storage modules that reach no data: the driver-free error types a route may catch (a 503 for an unreachable
# database).
STORAGE_VOCABULARY = {"fhir_server.storage.errors"}
# module (relative to fhir_server/) -> why it may use the server's own view after its admin check
OPERATOR_ROUTES = {
    "dicomweb/hospitals/routes.py": "hospital registration: admin-only operator action, writes as the server",
    "security/admin/routes.py": "users, clients and launch contexts: admin-only operator actions",
}


def _handler_modules() -> set[Path]:
    """The modules defining the route table's handlers (and the table itself)."""
    modules = {"fhir_server.rest.routes"}
    modules |= {r.handler.__module__ for r in ROUTES if r.handler is not None}
    return {Path(str(sys.modules[m].__file__)).resolve() for m in modules}


def _route_modules() -> list[Path]:
    routers = {p.resolve() for p in PACKAGE.rglob("*.py") if "APIRouter(" in p.read_text()}
    return sorted(routers | _handler_modules())


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
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if module.startswith("fhir_server.storage") and module not in STORAGE_VOCABULARY:
                found.append(f"line {node.lineno}: imports {module}")
    return found


def test_route_modules_are_found() -> None:
    names = {p.relative_to(PACKAGE).as_posix() for p in _route_modules()}
    assert {
        "rest/routes.py",
        "rest/handlers.py",
        "rest/audit_events.py",
        "patients/merge_routes.py",
        "dicomweb/proxy/routes.py",
        "dashboard/routes.py",
    } <= names


def test_the_core_and_interactions_know_no_web_framework() -> None:
    problems = {}
    for package in FRAMEWORK_FREE:
        for path in sorted((PACKAGE / package).rglob("*.py")):
            found = []
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom):
                    names = [node.module or ""]
                else:
                    continue
                found += [f"line {node.lineno}: imports {n}" for n in names if n.split(".")[0] in FRAMEWORKS]
            if found:
                problems[path.relative_to(PACKAGE).as_posix()] = found
    assert not problems, f"only fhir_server.rest.http_adapter turns HTTP into FHIR requests: {problems}"


def test_request_code_never_reaches_the_raw_repository() -> None:
    problems = {}
    for path in _route_modules():
        name = path.relative_to(PACKAGE).as_posix()
        if name in OPERATOR_ROUTES:
            continue
        if found := _violations(path):
            problems[name] = found
    assert not problems, (
        f"route modules must use fhir_server.security.access.store.secured(request): {problems}"
    )


def test_operator_exceptions_still_exist() -> None:
    # A stale exception would silently cover a future module of the same name.
    for name in OPERATOR_ROUTES:
        assert (PACKAGE / name).exists(), name
