"""Helpers for the search tests: each module seeds its own resources, tagged and id-prefixed uniquely, on
the shared server, and scopes every search to its tag so other modules' data never shows up."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

TAG_SYSTEM = "urn:test:search-module"


class Seeder:
    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.prefix = f"s{uuid.uuid4().hex[:10]}"
        self.tag = f"{TAG_SYSTEM}|{self.prefix}"
        self.system = f"urn:test:{self.prefix}"  # an identifier system no other module uses

    def id(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    def put(self, name: str, resource: dict[str, Any]) -> dict[str, Any]:
        body = {**resource, "id": self.id(name)}
        meta = dict(body.get("meta") or {})
        meta["tag"] = [*(meta.get("tag") or []), {"system": TAG_SYSTEM, "code": self.prefix}]
        body["meta"] = meta
        response = self.client.put(f"/{body['resourceType']}/{body['id']}", json=body)
        assert response.status_code in (200, 201), response.text
        return dict(response.json())

    def search(
        self, resource_type: str, query: Sequence[tuple[str, str]] | Mapping[str, str] | str = (), **kw: Any
    ) -> httpx.Response:
        params = list(query.items()) if isinstance(query, Mapping) else query
        if isinstance(params, str):
            params = [tuple(p.split("=", 1)) for p in params.split("&") if p]  # type: ignore[misc]
        return self.client.get(f"/{resource_type}", params=[*params, ("_tag", self.tag)], **kw)

    def bundle(self, resource_type: str, query: Any = (), **kw: Any) -> dict[str, Any]:
        response = self.search(resource_type, query, **kw)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def names(self, resource_type: str, query: Any = (), *, mode: str = "match") -> set[str]:
        """Local names of the entries of `mode` (the part of the id after this module's prefix)."""
        bundle = self.bundle(resource_type, query)
        return local_names(bundle, self.prefix, mode)

    def error(self, resource_type: str, query: Any, status: int = 400, **kw: Any) -> dict[str, Any]:
        response = self.search(resource_type, query, **kw)
        assert response.status_code == status, response.text
        body = dict(response.json())
        assert body["resourceType"] == "OperationOutcome"
        return body


def local_names(bundle: Mapping[str, Any], prefix: str, mode: str = "match") -> set[str]:
    names = set()
    for entry in bundle.get("entry", []):
        if entry["search"]["mode"] == mode:
            resource_id = entry["resource"]["id"]
            names.add(resource_id.removeprefix(f"{prefix}-"))
    return names
