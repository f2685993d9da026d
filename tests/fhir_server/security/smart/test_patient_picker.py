"""The login page's patient picker reads Patients through a secured store bound to the signed-in user's own
access (fhir_server.security.login.routes): a patient user who reaches it lists only their own record; a
clinician lists everyone."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import urlencode

import httpx

from tests.fhir_server.security.smart.smart_browser import Browser, forms_of
from tests.fhir_server.security.smart.smart_support import (
    PASSWORD,
    PATIENT_A,
    PATIENT_B,
    PUBLIC_APP,
    REDIRECT,
    SmartServer,
)


def _signed_in(smart: SmartServer, browser: Browser, username: str) -> tuple[str, httpx.Response]:
    """Starts a standalone launch asking for a patient and signs in: the pending request's tx and the page
    after the login (the picker for a clinician, the consent page for a patient user)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    params = {
        "response_type": "code",
        "client_id": PUBLIC_APP,
        "redirect_uri": REDIRECT,
        "scope": "launch/patient patient/*.rs",
        "state": "st-" + secrets.token_hex(4),
        "aud": smart.base_url,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    login = browser.open(f"{smart.urls.authorize}?{urlencode(params)}")
    assert login.status_code == 200 and 'action="/auth/login"' in login.text
    tx = dict(forms_of(login.text)[-1].values())["tx"]
    return tx, browser.submit(login, {"username": username, "password": PASSWORD})


def _listed(page: httpx.Response) -> set[str]:
    choices = [f for f in forms_of(page.text) if f.action == "/auth/patient"]
    return {value for form in choices for name, value, _, _ in form.fields if name == "patient"}


def test_patient_user_lists_only_their_own_record(smart: SmartServer, browser: Browser) -> None:
    tx, consent = _signed_in(smart, browser, "ingrid")
    assert 'action="/auth/consent"' in consent.text  # a patient user gets no picker…
    # …and one opened by hand shows them nobody else.
    picker = browser.open(f"{smart.origin}/auth/patients?{urlencode({'tx': tx})}")
    assert picker.status_code == 200, picker.text
    assert _listed(picker) == {PATIENT_A}
    assert "Mwakyusa" not in picker.text and PATIENT_B not in picker.text
    searched = browser.open(f"{smart.origin}/auth/patients?{urlencode({'tx': tx, 'q': 'mwakyusa'})}")
    assert _listed(searched) == set() and "No patient matches" in searched.text


def test_patient_user_cannot_choose_a_patient(smart: SmartServer, browser: Browser) -> None:
    tx, _ = _signed_in(smart, browser, "lars")
    chosen = browser.client.post(f"{smart.origin}/auth/patient", data={"tx": tx, "patient": PATIENT_A})
    assert chosen.status_code == 403


def test_clinician_lists_every_patient(smart: SmartServer, browser: Browser) -> None:
    _, picker = _signed_in(smart, browser, "dr-who")
    assert {PATIENT_A, PATIENT_B} <= _listed(picker), picker.text


def test_picker_needs_a_signed_in_user(smart: SmartServer, browser: Browser) -> None:
    tx, _ = _signed_in(smart, browser, "dr-who")
    with httpx.Client(timeout=30) as stranger:  # same tx, but not the browser that signed in
        page = stranger.get(f"{smart.origin}/auth/patients", params={"tx": tx})
    assert _listed(page) == set() and "expired" in page.text


def test_clinician_searches_by_name_birth_date_and_id(smart: SmartServer, browser: Browser) -> None:
    # The query becomes FHIR searches through the user's store: each word in a name part
    # (`name:contains`, all words), a date as the birth date, a single word also as an id.
    tx, _ = _signed_in(smart, browser, "dr-who")

    def listed(query: str) -> set[str]:
        picker = browser.open(f"{smart.origin}/auth/patients?{urlencode({'tx': tx, 'q': query})}")
        assert picker.status_code == 200, picker.text
        return _listed(picker)

    assert PATIENT_B in listed("wakyus") and PATIENT_A not in listed("wakyus")
    assert PATIENT_B in listed("amina MWAKYUSA") and PATIENT_B not in listed("amina kimaro")
    assert PATIENT_B in listed("1985-07-15") and PATIENT_A not in listed("1985-07-15")
    assert listed(PATIENT_A) == {PATIENT_A}
    assert listed("no|such,name\\") == set()
