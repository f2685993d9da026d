"""Writes `registry.json` here: every SearchParam of `fhir_server.search.registry`, per type, in order.

The golden file was first written from the hand-written registry, before the search parameters moved to JSON
(fhir_server/search/data), so `test_registry_golden` proves the loaded registry is the same. Run it again
only for a change to the registry that is meant, and review the diff (from the repository root, as a module
of the `tests` package, so that the root, and with it `fhir_server`, is on sys.path):

    .venv/bin/python -m tests.fhir_server.search.golden.dump_registry
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).with_name("registry.json")


def registry_as_json() -> dict[str, list[dict[str, Any]]]:
    from fhir_server.search.registry import SEARCH_PARAMETERS

    # Lists, not objects keyed by name: the order of the parameters is compared too.
    return {
        resource_type: [dataclasses.asdict(param) for param in params.values()]
        for resource_type, params in SEARCH_PARAMETERS.items()
    }


def main() -> None:
    GOLDEN.write_text(json.dumps(registry_as_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {GOLDEN}")


if __name__ == "__main__":
    main()
