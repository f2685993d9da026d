"""FHIR JSON on the wire: the response class every JSON answer of the server uses."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response

from fhir_server.core.negotiation import FHIR_JSON_UTF8

MEDIA_TYPE = FHIR_JSON_UTF8


class FhirJSONResponse(Response):
    media_type = MEDIA_TYPE

    def __init__(
        self,
        content: Any,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        pretty: bool = False,
    ) -> None:
        self._pretty = pretty
        super().__init__(content, status_code, headers)

    @classmethod
    def serialized(
        cls, body: bytes, status_code: int = 200, headers: Mapping[str, str] | None = None
    ) -> FhirJSONResponse:
        """A body that is already FHIR JSON (a cached version's bytes): sent without parsing or encoding."""
        return cls(_Serialized(body), status_code, headers)

    def render(self, content: Any) -> bytes:
        if content is None:
            return b""
        if isinstance(content, _Serialized):
            return content.body
        return orjson.dumps(content, option=orjson.OPT_INDENT_2 if self._pretty else 0)


class _Serialized:
    __slots__ = ("body",)

    def __init__(self, body: bytes) -> None:
        self.body = body
