"""Search values precomputed on every write and stored in `sp` of the current version document.

Every value is normalized so that search is an equality or range match on an indexed field.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo import IndexModel

JsonObject = dict[str, Any]

COMMON_PARAMETERS = ("_id", "_tag", "_profile", "_security", "_source")


def _token_values(codings: Sequence[JsonObject]) -> list[str]:
    values: list[str] = []
    for coding in codings:
        code = coding.get("code")
        if not isinstance(code, str):
            continue
        system = coding.get("system") or ""
        values += [f"{system}|{code}", code]
    return values


def index_values(resource: JsonObject) -> dict[str, list[Any]]:
    meta = resource.get("meta") or {}
    values: dict[str, list[Any]] = {
        "_id": [resource["id"]],
        "_tag": _token_values(meta.get("tag") or []),
        "_security": _token_values(meta.get("security") or []),
        "_profile": list(meta.get("profile") or []),
        "_source": [meta["source"]] if meta.get("source") else [],
    }
    return {name: vals for name, vals in values.items() if vals}


def index_models(resource_type: str) -> list[IndexModel]:
    return [IndexModel([(f"sp.{name}", 1)], name=f"sp_{name}") for name in COMMON_PARAMETERS]
