"""The authorization hook every interaction, operation and proxy asks before it shows or changes data.

Until SMART on FHIR enforcement is wired in, the server runs with `AllowAll` (open development mode);
the SMART issue replaces it with a scope- and compartment-checking implementation of the same protocol,
so no caller changes.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

from starlette.requests import Request

Action = Literal["read", "search", "create", "update", "delete"]


class Authorizer(Protocol):
    def allows(
        self, request: Request, action: Action, resource_type: str, resource: dict[str, Any] | None
    ) -> bool:
        """May the caller behind `request` do `action` on this resource (None: on the type as a whole)?"""
        ...


class AllowAll:
    def allows(
        self, request: Request, action: Action, resource_type: str, resource: dict[str, Any] | None
    ) -> bool:
        return True
