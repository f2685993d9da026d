"""The server's logs for people (one readable line per request) and for machines (JSON), written by the
real request observer around a real ASGI app."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from fhir_server.observability.logs import (
    ACCESS_LOGGER,
    JsonFormatter,
    TextFormatter,
    configure,
    json_wanted,
)
from fhir_server.observability.metrics import RequestObserver


def _teapot(request: Request) -> PlainTextResponse:
    return PlainTextResponse("short and stout", status_code=418)


APP = RequestObserver(Starlette(routes=[Route("/tea/{name}", _teapot)]))


@pytest.fixture
def captured() -> Iterator[tuple[io.StringIO, logging.Handler]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    access = logging.getLogger(ACCESS_LOGGER)
    old_level = access.level
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    yield stream, handler
    access.removeHandler(handler)
    access.setLevel(old_level)


def _get(path: str, **headers: str) -> httpx.Response:
    async def get() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=APP), base_url="http://t") as client:
            return await client.get(path, headers=headers)

    return asyncio.run(get())


def test_a_terminal_line_has_time_method_path_status_duration_and_request_id(
    captured: tuple[io.StringIO, logging.Handler],
) -> None:
    stream, handler = captured
    handler.setFormatter(TextFormatter())
    response = _get("/tea/earl-grey?sugar=2", **{"X-Request-ID": "req-42"})
    assert response.status_code == 418
    line = stream.getvalue().strip()
    assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3} GET /tea/earl-grey 418 [\d.]+ ms req=req-42", line), line


def test_machines_get_one_json_object_with_every_field(
    captured: tuple[io.StringIO, logging.Handler],
) -> None:
    stream, handler = captured
    handler.setFormatter(JsonFormatter())
    _get("/tea/green")
    entry = json.loads(stream.getvalue())
    assert entry["method"] == "GET" and entry["path"] == "/tea/green" and entry["status"] == 418
    assert entry["request_id"] and isinstance(entry["duration_ms"], float)


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_auto_is_text_on_a_terminal_and_json_elsewhere() -> None:
    assert json_wanted("auto", _Tty()) is False
    assert json_wanted("auto", io.StringIO()) is True
    assert json_wanted("json", _Tty()) is True
    assert json_wanted("text", io.StringIO()) is False


def test_library_chatter_is_held_at_warning_unless_debugging() -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure("info", json_logs=False)
        assert logging.getLogger("httpx").getEffectiveLevel() == logging.WARNING
        assert logging.getLogger("dicomweb_client").getEffectiveLevel() == logging.WARNING
        configure("debug", json_logs=False)
        assert logging.getLogger("httpx").getEffectiveLevel() == logging.DEBUG
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        logging.getLogger("httpx").setLevel(logging.NOTSET)
