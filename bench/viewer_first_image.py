"""Time from "Open in viewer" to the first image of the demo CT, in Debian's Chromium.

Starts a secured server on a fresh data dir with the demo and its local Orthancs (`serve --demo
--local-orthanc`), adds a clinician, signs in through the server's own login page, opens the CT's study page,
then clicks *Open in viewer* and waits until the viewer's canvas shows a picture (pixels not all alike; the
same test as tests/fhir_server/dashboard/test_viewer_browser.py). Every request leaving loopback is aborted.
Needs the viewer installed (`fhir-server install-viewer`), Orthanc and Chromium.

    .venv/bin/python bench/viewer_first_image.py [--runs N]
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from PIL import Image, ImageStat
from playwright.sync_api import Page

# The repo root first: tests/ holds folders named like our packages (tests/fhir_server…).
sys.path[:0] = [str(Path(__file__).resolve().parent.parent)]
from fhir_server.demo.dataset import fhir_id_of
from tests.chromium import chromium
from tests.server_process import REPO_ROOT, start_server

USER, PASSWORD = "bench-clinician", "bench-clinician-pass"
CT = fhir_id_of("STU-20240220091500")
_CLI = [sys.executable, "-m", "fhir_server"]


def _first_image_seconds(page: Page, origin: str) -> float:
    page.goto(f"{origin}/app/studies/{CT}")
    page.wait_for_selector("#open-in-viewer")
    started = time.perf_counter()
    page.click("#open-in-viewer")
    canvas = page.locator("div.viewport-element canvas, .cornerstone-canvas").first
    canvas.wait_for(state="visible", timeout=60_000)
    while True:
        picture = Image.open(io.BytesIO(canvas.screenshot())).convert("L")
        if ImageStat.Stat(picture).stddev[0] > 8:
            return time.perf_counter() - started
        if time.perf_counter() - started > 60:
            raise RuntimeError("no image within 60 s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="viewer-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        server = start_server(
            data_dir, "--demo", "--local-orthanc", env={"FHIR_AUTH_MODE": "smart"}, timeout=180
        )
        try:
            subprocess.run(
                [
                    *_CLI,
                    "user",
                    "add",
                    USER,
                    "--data-dir",
                    str(data_dir),
                    "--role",
                    "clinician",
                    "--password-stdin",
                ],
                input=PASSWORD.encode(),
                check=True,
                cwd=REPO_ROOT,
                capture_output=True,
            )
            origin = server.base_url.removesuffix("/fhir")
            with chromium("the viewer benchmark") as browser:
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                context.route(
                    "**/*",
                    lambda route, request: (
                        route.continue_()
                        if urlsplit(request.url).hostname in ("127.0.0.1", "localhost")
                        or request.url.startswith(("data:", "blob:"))
                        else route.abort()
                    ),
                )
                page = context.new_page()
                page.goto(f"{origin}/app/")
                page.click("#sign-in")
                page.fill("#username", USER)
                page.fill("#password", PASSWORD)
                page.click("form button.primary")
                page.wait_for_selector("#user:not([hidden])")
                times = [_first_image_seconds(page, origin) for _ in range(args.runs)]
                context.close()
        finally:
            server.stop()
    print(f"Open in viewer -> first CT image: {', '.join(f'{t:.2f} s' for t in times)}")
    if len(times) > 1:
        print(f"median {statistics.median(times):.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
