"""Debian's Chromium (/usr/bin/chromium, never a downloaded browser) driven by Playwright, for the browser
tests: headless, no sandbox, background networking off. A missing Chromium fails the tests with the install
hint, never skips them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextmanager
def chromium(purpose: str) -> Iterator[Browser]:
    """Playwright's sync API keeps an asyncio loop running in this thread until the context exits: use it
    for a module at most, since other tests call asyncio.run()."""
    if not CHROMIUM.exists():
        pytest.fail(f"{purpose} needs the Debian chromium package: apt-get install chromium", pytrace=False)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()
