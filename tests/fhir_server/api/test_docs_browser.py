"""/docs in Debian's Chromium: Swagger UI renders the server's OpenAPI document with every asset from this
server (no CDN: the page works offline), and its Authorize button offers the SMART scheme."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.chromium import chromium
from tests.server_process import RunningServer


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium("the API documentation test") as browser:
        yield browser


def test_docs_render_offline_from_loopback_only(browser: Browser, server: RunningServer) -> None:
    origin = server.base_url.removesuffix("/fhir")
    context = browser.new_context()
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    try:
        page.goto(f"{origin}/docs")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("Imaging Federation FHIR Server")
        patient = page.locator(".opblock-tag", has_text="Patient").first
        expect(patient).to_be_visible()
        patient.click()
        read = page.locator(".opblock-get .opblock-summary", has_text="/fhir/Patient/{id}").first
        expect(read).to_be_visible()
        expect(
            page.locator(".opblock-summary-description", has_text="read: Read the current version").first
        ).to_be_visible()
        expect(page.locator("button.authorize")).to_be_visible()
    finally:
        context.close()
    hosts = {urlsplit(url).hostname for url in requested if not url.startswith(("data:", "blob:"))}
    assert hosts == {"127.0.0.1"}, requested


def test_the_document_is_served_to_anyone(server: RunningServer) -> None:
    origin = server.base_url.removesuffix("/fhir")
    document = httpx.get(f"{origin}/openapi.json").json()
    assert "/fhir/Patient/{id}" in document["paths"]
    assert httpx.get(f"{origin}/docs/assets/swagger-ui-bundle.js").status_code == 200
    assert httpx.get(f"{origin}/docs/assets/index.html").status_code == 404
