"""authlib's request objects over an already-read Starlette request (authlib is synchronous; the routes
read the body first and hand over plain data)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from authlib.oauth2.rfc6749 import OAuth2Payload, OAuth2Request
from starlette.requests import Request

from fhir_server.security.oauth.urls import Urls

FORM_TYPE = "application/x-www-form-urlencoded"


class PairsPayload(OAuth2Payload):
    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = list(pairs)
        self._data: dict[str, str] = {}
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in pairs:
            self._data.setdefault(key, value)
            self._datalist[key].append(value)

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class PlainOAuth2Request(OAuth2Request):
    def __init__(
        self,
        method: str,
        uri: str,
        headers: Mapping[str, str],  # case-insensitive (Starlette Headers): authlib asks for "Authorization"
        query: list[tuple[str, str]],
        form: list[tuple[str, str]],
    ) -> None:
        super().__init__(method, uri, headers=headers)
        self.payload = PairsPayload(query + form)
        self._args = dict(query)
        self._form = dict(form)
        self.launch_context: Any = None

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


async def read_form(request: Request) -> list[tuple[str, str]]:
    """The urlencoded body as pairs (RFC 6749 §3.2: application/x-www-form-urlencoded only)."""
    if request.method != "POST":
        return []
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if content_type != FORM_TYPE:
        return []
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        return []


def oauth_request(request: Request, urls: Urls, form: list[tuple[str, str]]) -> PlainOAuth2Request:
    # The URI authlib checks for TLS is the public one (behind a TLS-terminating proxy it is https).
    public = urls.auth_base + request.url.path.removeprefix("/auth")
    return PlainOAuth2Request(
        request.method, public, request.headers, list(request.query_params.multi_items()), form
    )
