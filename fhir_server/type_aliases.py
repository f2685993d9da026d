"""The project's shared type aliases, defined once (import them from here, never redefine them).

Both are open dicts on purpose: a FHIR resource's shape is checked by its R4B model
(`fhir_server.validation`), a stored document's by the code that writes it, not by these names.
(`fhir_server.json_types` is something else: the check of JSON value kinds in client input.)
"""

from __future__ import annotations

from typing import Any, TypeAlias

# A JSON object as parsed from or sent to a client: a FHIR resource or one of its elements.
JsonObject: TypeAlias = dict[str, Any]
# A MongoDB document as pymongo reads and writes it (may hold datetimes and bytes, so not JSON).
Document: TypeAlias = dict[str, Any]
