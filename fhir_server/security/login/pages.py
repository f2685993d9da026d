"""Server-rendered pages of the authorization server (login, patient picker, consent, errors).

Jinja2 with autoescaping; every page is sent with headers that keep it out of frames (clickjacking of the
consent button), out of caches and out of Referer headers.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.responses import HTMLResponse, Response

_ENV = Environment(
    loader=PackageLoader("fhir_server.security.login", "templates"), autoescape=select_autoescape(["html"])
)
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
PRODUCT = "Imaging Federation"


def page(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = _ENV.get_template(template).render(product=PRODUCT, **context)
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


def error_page(title: str, message: str, status: int = 400) -> HTMLResponse:
    return page("error.html", status, title=title, message=message)


def stylesheet() -> Response:
    css = files("fhir_server.security.login").joinpath("static/auth.css").read_bytes()
    return Response(css, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"})
