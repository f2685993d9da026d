"""A minimal browser for the login, patient picker and consent pages: it submits the pages' real HTML forms
(action, method, hidden fields, checked boxes) like a user agent would, and stops at the redirect back to
the app (whose host is never contacted)."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin

import httpx

from tests.fhir_server.security.smart.smart_support import TLS


@dataclass
class Form:
    action: str
    method: str
    fields: list[tuple[str, str, str, bool]] = field(default_factory=list)  # (name, value, type, checked)
    buttons: list[tuple[str, str]] = field(default_factory=list)

    def values(self) -> list[tuple[str, str]]:
        out = []
        for name, value, kind, checked in self.fields:
            if kind in ("checkbox", "radio") and not checked:
                continue
            out.append((name, value))
        return out


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self.labels: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(a.get("action", ""), a.get("method", "get").lower()))
        elif tag == "input" and self.forms and a.get("name"):
            kind = a.get("type", "text")
            self.forms[-1].fields.append((a["name"], a.get("value", ""), kind, "checked" in a))
        elif tag == "button" and self.forms and a.get("name"):
            self.forms[-1].buttons.append((a["name"], a.get("value", "")))
        elif tag == "label" and a.get("for"):
            self.labels.append(a["for"])


def forms_of(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


def labelled_inputs(html: str) -> set[str]:
    parser = _FormParser()
    parser.feed(html)
    return set(parser.labels)


@dataclass
class Browser:
    origin: str  # http://127.0.0.1:port
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(follow_redirects=False, timeout=30, verify=TLS)

    def close(self) -> None:
        self.client.close()

    def open(self, url: str) -> httpx.Response:
        return self.client.get(url)

    def submit(
        self,
        page: httpx.Response,
        fill: dict[str, str] | None = None,
        *,
        button: tuple[str, str] | None = None,
        uncheck: set[str] = frozenset(),  # type: ignore[assignment]
        choose: tuple[str, str] | None = None,
        form_index: int = -1,
    ) -> httpx.Response:
        form = forms_of(page.text)[form_index]
        pairs: list[tuple[str, str]] = []
        for name, value, kind, checked in form.fields:
            if kind == "checkbox":
                if checked and value not in uncheck:
                    pairs.append((name, value))
            elif kind == "radio":
                if choose is not None and name == choose[0]:
                    if value == choose[1]:
                        pairs.append((name, value))
                elif checked:
                    pairs.append((name, value))
            else:
                pairs.append((name, (fill or {}).get(name, value)))
        if button is not None:
            pairs.append(button)
        url = urljoin(str(page.url), form.action)
        if form.method == "post":
            return self.client.post(url, data=dict(_grouped(pairs)))  # type: ignore[arg-type]
        return self.client.get(url, params=pairs)

    def authorize(
        self,
        authorize_url: str,
        username: str,
        password: str,
        *,
        patient: str | None = None,
        deny: bool = False,
        uncheck: set[str] = frozenset(),  # type: ignore[assignment]
    ) -> httpx.Response:
        """Log in, pick the patient if asked, answer the consent page; the final response (a redirect to
        the app, or an error page)."""
        page = self.open(authorize_url)
        if page.status_code != 200 or "/auth/login" not in page.text:
            return page
        page = self.submit(page, {"username": username, "password": password})
        if page.status_code != 200:
            return page
        if 'action="/auth/patient"' in page.text:
            page = self.submit(page, choose=("patient", patient) if patient else None)
        if 'action="/auth/consent"' not in page.text:
            return page
        return self.submit(page, button=("decision", "deny" if deny else "allow"), uncheck=uncheck)


def _grouped(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for key, value in pairs:
        grouped.setdefault(key, []).append(value)
    return grouped
