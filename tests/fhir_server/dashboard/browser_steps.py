"""Steps the browser tests share: signing in through the server's own SMART login page,
screenshots, reading QR codes back from the page."""

from __future__ import annotations

import base64
import io
import json
import time
from pathlib import Path
from typing import Any

from PIL import Image
from playwright.sync_api import Locator, Page
from pyzbar.pyzbar import decode

SESSION_KEY = "fhir-dashboard.session"


def sign_in(page: Page, origin: str, username: str, password: str, path: str = "/app/") -> None:
    page.goto(f"{origin}{path}")
    page.click("#sign-in")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("form button.primary")  # no consent step: the dashboard is the server's own app
    page.wait_for_selector("#user:not([hidden])")
    page.wait_for_selector("main h1")


def session(page: Page) -> dict[str, Any]:
    raw = page.evaluate(f"sessionStorage.getItem('{SESSION_KEY}')")
    assert raw, "no dashboard session in sessionStorage"
    value: dict[str, Any] = json.loads(raw)
    return value


def shot(page: Page, directory: Path, name: str) -> None:
    page.screenshot(path=str(directory / f"{name}.png"), full_page=True)


def qr_from(element: Locator) -> str:
    """Decode the QR code shown by `element` from a screenshot of it (zbar, a real decoder)."""
    found = decode(Image.open(io.BytesIO(element.screenshot())))
    assert len(found) == 1, f"expected one QR code, found {len(found)}"
    text: str = found[0].data.decode("utf-8")
    return text


def shlink_payload(viewer_url: str) -> dict[str, Any]:
    """The SMART Health Link payload after `#shlink:/` (base64url JSON: url, key, flag, …)."""
    encoded = viewer_url.split("shlink:/", 1)[1]
    payload: dict[str, Any] = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    return payload


def loaded_images(page: Page, selector: str) -> list[int]:
    """naturalWidth of every <img> matching `selector` (0 means it did not load)."""
    widths: list[int] = page.eval_on_selector_all(selector, "els => els.map(e => e.naturalWidth)")
    return widths


def no_horizontal_overflow(page: Page) -> bool:
    fits: bool = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    return fits


def wait_for_image(element: Locator, timeout: float = 20) -> None:
    """Until the <img> has loaded (naturalWidth > 0). Polled from here: Playwright's wait_for_function
    evaluates its predicate with eval(), which the dashboard's Content-Security-Policy rightly refuses."""
    deadline = time.monotonic() + timeout
    element.wait_for(state="visible", timeout=timeout * 1000)
    while element.evaluate("img => img.naturalWidth") == 0:
        assert time.monotonic() < deadline, "the image did not load"
        time.sleep(0.1)
