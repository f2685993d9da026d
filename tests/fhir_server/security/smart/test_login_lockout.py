"""Password guessing is bounded also when the guesses arrive all at once: an attempt is counted atomically
before its password is compared, so parallel wrong passwords never get more comparisons than the lockout
allows, per account (users.py) and per sign-in request (pending.py).

What was compared is read from the audit trail: each compared wrong password is one "wrong user name or
password" event, each refused one "account locked…". The responses are the same for both (no hint which
names exist), so they cannot tell."""

from __future__ import annotations

import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from fhir_server.security.accounts.users import MAX_FAILED_LOGINS
from fhir_server.security.oauth.pending import MAX_LOGIN_FAILURES
from fhir_server.security.oauth.routes import BROWSER_COOKIE
from tests.fhir_server.security.smart.smart_browser import Browser, forms_of
from tests.fhir_server.security.smart.smart_support import (
    PASSWORD,
    TLS,
    SmartServer,
    authorize_url,
    pkce,
    wait_for,
)

WRONG = "login failed: wrong user name or password"
LOCKED = "login failed: account locked after too many failed attempts"


def _add_user(smart: SmartServer) -> str:
    username = f"guessed-{secrets.token_hex(4)}"
    with smart.admin() as admin:
        response = admin.post(
            "/auth/admin/users", json={"username": username, "password": PASSWORD, "role": "clinician"}
        )
    assert response.status_code == 201, response.text
    return username


def _sign_in_requests(smart: SmartServer, browser: Browser, count: int) -> list[str]:
    """`count` sign-in requests (the `tx` of each login form) of one browser."""
    txs = []
    for _ in range(count):
        page = browser.open(authorize_url(smart.urls, "user/*.rs", pkce()[1]))
        assert page.status_code == 200, page.text
        txs.append(dict(forms_of(page.text)[-1].values())["tx"])
    return txs


def _parallel_logins(smart: SmartServer, cookie: str, attempts: list[dict[str, str]]) -> list[int]:
    """POST every login form at the same moment, each on its own connection; their status codes."""
    start = threading.Barrier(len(attempts))

    def post(form: dict[str, str]) -> int:
        with httpx.Client(
            base_url=smart.origin, cookies={BROWSER_COOKIE: cookie}, timeout=60, verify=TLS
        ) as c:
            start.wait()
            return c.post("/auth/login", data=form).status_code

    with ThreadPoolExecutor(len(attempts)) as pool:
        return list(pool.map(post, attempts))


def _audited(smart: SmartServer, username: str, description: str) -> int:
    return smart.connection.db["audit_events"].count_documents(
        {"agents": username, "res.outcomeDesc": description}
    )


def _settled_count(smart: SmartServer, username: str, description: str, expected: int) -> int:
    """The count once the background audit writer has caught up (and a moment longer, so that a surplus
    would show)."""
    wait_for(lambda: _audited(smart, username, description) >= expected, timeout=15)
    time.sleep(1.0)
    return _audited(smart, username, description)


def _cookie(browser: Browser) -> str:
    value = browser.client.cookies.get(BROWSER_COOKIE)
    assert value
    return str(value)


def test_parallel_wrong_passwords_never_compare_more_than_the_lockout_allows(
    smart: SmartServer, browser: Browser
) -> None:
    username = _add_user(smart)
    guesses = 40
    # One sign-in request per guess, so that only the account's lockout limits them.
    txs = _sign_in_requests(smart, browser, guesses)
    attempts: list[dict[str, Any]] = [
        {"tx": tx, "username": username, "password": f"guess number {i}"} for i, tx in enumerate(txs)
    ]
    statuses = _parallel_logins(smart, _cookie(browser), attempts)
    assert statuses == [401] * guesses  # one answer for wrong and locked alike
    assert _settled_count(smart, username, WRONG, MAX_FAILED_LOGINS) == MAX_FAILED_LOGINS
    assert _settled_count(smart, username, LOCKED, guesses - MAX_FAILED_LOGINS) == guesses - MAX_FAILED_LOGINS
    # Locked: even the right password is refused now.
    page = browser.authorize(authorize_url(smart.urls, "user/*.rs", pkce()[1]), username, PASSWORD)
    assert page.status_code == 401 and "not correct" in page.text
    with smart.admin() as admin:
        admin.delete(f"/auth/admin/users/{username}")


def test_parallel_posts_of_one_login_form_are_bounded_too(smart: SmartServer, browser: Browser) -> None:
    username = _add_user(smart)
    (tx,) = _sign_in_requests(smart, browser, 1)
    posts = 20
    attempts = [{"tx": tx, "username": username, "password": f"guess number {i}"} for i in range(posts)]
    statuses = _parallel_logins(smart, _cookie(browser), attempts)
    # The sign-in request allows MAX_LOGIN_FAILURES attempts (fewer than the account's limit): that many
    # passwords are compared, the last of them answered 429 and the request ended; the posts beyond them get
    # 429 too, or 400 "expired" once it is gone.
    assert MAX_LOGIN_FAILURES < MAX_FAILED_LOGINS
    assert statuses.count(401) == MAX_LOGIN_FAILURES - 1, statuses
    assert statuses.count(429) >= 1 and statuses.count(429) + statuses.count(400) == posts - statuses.count(
        401
    )
    assert _settled_count(smart, username, WRONG, MAX_LOGIN_FAILURES) == MAX_LOGIN_FAILURES
    assert _audited(smart, username, LOCKED) == 0
    # The account itself is not locked: a new sign-in request with the right password succeeds.
    response = browser.authorize(authorize_url(smart.urls, "user/*.rs", pkce()[1]), username, PASSWORD)
    assert response.status_code == 302, response.text
    with smart.admin() as admin:
        admin.delete(f"/auth/admin/users/{username}")
