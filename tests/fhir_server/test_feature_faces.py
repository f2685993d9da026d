"""Features use each other only through the face each package's `__init__` declares (`__all__`), never
through another feature's internals; the composition roots (app, cli, rest) wire internals, features don't.
The direction of imports between packages is `lint-imports`' job ([tool.importlinter] in pyproject.toml)."""

from __future__ import annotations

import importlib

import grimp
import pytest

FEATURES = ("dashboard", "demo", "legacy", "viewer", "dicomweb", "shl", "patients", "subscriptions")


def _feature(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] == "fhir_server" and len(parts) > 1 and parts[1] in FEATURES:
        return parts[1]
    return None


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("fhir_server", exclude_type_checking_imports=True)


def test_features_reach_each_other_only_through_their_faces(graph: grimp.ImportGraph) -> None:
    through_internals = []
    for importer in graph.modules:
        source = _feature(importer)
        if source is None:
            continue
        for imported in graph.find_modules_directly_imported_by(importer):
            target = _feature(imported)
            if target is not None and target != source and imported != f"fhir_server.{target}":
                through_internals.append(f"{importer} -> {imported}")
    assert not through_internals, (
        "import the other feature's package (its __init__ names its face in __all__), not its modules: "
        f"{sorted(through_internals)}"
    )


@pytest.mark.parametrize("feature", FEATURES)
def test_every_face_names_only_what_it_has(feature: str) -> None:
    package = importlib.import_module(f"fhir_server.{feature}")
    missing = [name for name in getattr(package, "__all__", []) if not hasattr(package, name)]
    assert not missing
