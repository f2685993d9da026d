"""Authorization code flow (App Launch 2.2 §app-launch), driven with SMART's own Python client
(`fhirclient`) for the app side and real form posts for the login, patient picker and consent pages."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from fhirclient import client as smart_client
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.fhir_server.security.smart.smart_browser import Browser, labelled_inputs
from tests.fhir_server.security.smart.smart_support import (
    HTTP,
    PASSWORD,
    PATIENT_A,
    PATIENT_B,
    PUBLIC_APP,
    REDIRECT,
    SECRET_APP,
    STUDY_A,
    STUDY_B,
    SmartServer,
)


def _fhirclient(smart: SmartServer, scope: str, **extra: Any) -> smart_client.FHIRClient:
    settings = {
        "app_id": PUBLIC_APP,
        "api_base": smart.base_url,
        "redirect_uri": REDIRECT,
        "scope": scope,
        **extra,
    }
    return smart_client.FHIRClient(settings=settings)


def _query(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def _authorize_url(smart: SmartServer, scope: str, challenge: str | None, **extra: str) -> str:
    params = {
        "response_type": "code",
        "client_id": PUBLIC_APP,
        "redirect_uri": REDIRECT,
        "scope": scope,
        "state": "st-" + secrets.token_hex(4),
        "aud": smart.base_url,
        **extra,
    }
    if challenge is not None:
        params.setdefault("code_challenge", challenge)
        params.setdefault("code_challenge_method", "S256")
    return f"{smart.urls.authorize}?{urlencode(params)}"


def _token(smart: SmartServer, **form: str) -> httpx.Response:
    return HTTP.post(smart.urls.token, data=form)


def _code_flow(
    smart: SmartServer, browser: Browser, scope: str, user: str = "dr-who", patient: str | None = None
) -> tuple[dict[str, str], str]:
    verifier, challenge = _pkce()
    response = browser.authorize(_authorize_url(smart, scope, challenge), user, PASSWORD, patient=patient)
    assert response.status_code == 302, response.text
    return _query(response.headers["location"]), verifier


def test_standalone_launch_with_patient_picker_via_fhirclient(smart: SmartServer, browser: Browser) -> None:
    app = _fhirclient(smart, "openid fhirUser offline_access patient/*.rs")
    url = app.authorize_url
    query = _query(url)
    assert query["code_challenge_method"] == "S256" and query["aud"] == smart.base_url
    location = browser.authorize(url, "dr-who", PASSWORD, patient=PATIENT_B)
    assert location.status_code == 302
    assert location.headers["location"].startswith(REDIRECT)
    assert _query(location.headers["location"])["state"] == query["state"]  # state echoed
    app.handle_callback(location.headers["location"])
    assert app.patient_id == PATIENT_B
    assert app.server.auth.refresh_token  # offline_access granted
    assert app.server.request_json(f"Patient/{PATIENT_B}")["id"] == PATIENT_B
    with pytest.raises(Exception, match="404"):  # another patient's record answers as absent
        app.server.request_json(f"Patient/{PATIENT_A}")


def test_patient_user_gets_their_own_record_without_a_picker(smart: SmartServer, browser: Browser) -> None:
    app = _fhirclient(smart, "openid fhirUser patient/*.rs")
    response = browser.authorize(app.authorize_url, "ingrid", PASSWORD)
    assert response.status_code == 302
    app.handle_callback(response.headers["location"])
    context = app.launch_context
    assert app.patient_id == PATIENT_A
    id_token = context["id_token"]
    keys = KeySet.import_key_set(HTTP.get(smart.urls.jwks).json())
    claims = jwt.decode(id_token, keys, algorithms=["RS256"]).claims
    assert claims["fhirUser"] == f"{smart.base_url}/Patient/{PATIENT_A}"
    assert claims["iss"] == smart.urls.issuer and claims["aud"] == [PUBLIC_APP]
    assert claims["sub"] == "ingrid"
    assert app.server.request_json(f"ImagingStudy/{STUDY_A}")["id"] == STUDY_A
    with pytest.raises(Exception, match="404"):  # another patient's study answers as absent
        app.server.request_json(f"ImagingStudy/{STUDY_B}")


def test_ehr_launch_binds_the_launch_context(smart: SmartServer, browser: Browser) -> None:
    with smart.admin() as admin:
        launch = admin.post("/auth/admin/launch", json={"patient": PATIENT_B, "client_id": PUBLIC_APP}).json()
    assert launch["iss"] == smart.base_url
    app = _fhirclient(smart, "patient/ImagingStudy.rs", launch_token=launch["launch"])
    url = app.authorize_url
    assert _query(url)["launch"] == launch["launch"] and "launch" in _query(url)["scope"].split()
    response = browser.authorize(url, "dr-who", PASSWORD)  # no picker: the EHR chose the patient
    assert response.status_code == 302
    app.handle_callback(response.headers["location"])
    context = app.launch_context
    assert context["patient"] == PATIENT_B and context["need_patient_banner"] is False
    assert app.server.request_json(f"ImagingStudy/{STUDY_B}")["id"] == STUDY_B


def test_unknown_launch_is_refused(smart: SmartServer, browser: Browser) -> None:
    _, challenge = _pkce()
    response = browser.open(_authorize_url(smart, "launch patient/*.rs", challenge, launch="made-up"))
    assert response.status_code == 302
    assert _query(response.headers["location"])["error"] == "invalid_request"


def test_patient_user_cannot_use_a_launch_for_someone_else(smart: SmartServer, browser: Browser) -> None:
    with smart.admin() as admin:
        launch = admin.post("/auth/admin/launch", json={"patient": PATIENT_B}).json()["launch"]
    _, challenge = _pkce()
    response = browser.authorize(
        _authorize_url(smart, "launch patient/*.rs", challenge, launch=launch), "ingrid", PASSWORD
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    "pkce",
    [
        {},  # no challenge at all
        {"code_challenge": "x" * 43, "code_challenge_method": "plain"},
        {"code_challenge": "x" * 43},  # method missing: RFC 7636 would default to plain
    ],
)
def test_pkce_plain_or_missing_is_refused(smart: SmartServer, browser: Browser, pkce: dict[str, str]) -> None:
    params = {
        "response_type": "code",
        "client_id": PUBLIC_APP,
        "redirect_uri": REDIRECT,
        "scope": "patient/*.rs",
        "state": "s1",
        "aud": smart.base_url,
        **pkce,
    }
    response = browser.open(f"{smart.urls.authorize}?{urlencode(params)}")
    assert response.status_code == 302
    query = _query(response.headers["location"])
    assert query["error"] == "invalid_request" and query["state"] == "s1"


def test_redirect_uri_mismatch_is_not_followed(smart: SmartServer, browser: Browser) -> None:
    _, challenge = _pkce()
    url = _authorize_url(smart, "patient/*.rs", challenge, redirect_uri="https://attacker.example/cb")
    response = browser.open(url)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "text/html" in response.headers["content-type"]


def test_unknown_client_is_not_redirected(smart: SmartServer, browser: Browser) -> None:
    _, challenge = _pkce()
    response = browser.open(_authorize_url(smart, "patient/*.rs", challenge, client_id="nobody"))
    assert response.status_code == 400 and "location" not in response.headers


def test_wrong_aud_is_refused(smart: SmartServer, browser: Browser) -> None:
    _, challenge = _pkce()
    response = browser.open(
        _authorize_url(smart, "patient/*.rs", challenge, aud="https://other.example/fhir")
    )
    assert response.status_code == 302
    assert _query(response.headers["location"])["error"] == "invalid_request"


def test_code_is_single_use_and_replay_revokes_its_tokens(smart: SmartServer, browser: Browser) -> None:
    query, verifier = _code_flow(smart, browser, "patient/*.rs offline_access", patient=PATIENT_A)
    exchange = {
        "grant_type": "authorization_code",
        "code": query["code"],
        "redirect_uri": REDIRECT,
        "client_id": PUBLIC_APP,
        "code_verifier": verifier,
    }
    first = _token(smart, **exchange)
    assert first.status_code == 200, first.text
    assert first.headers["cache-control"] == "no-store" and first.headers["pragma"] == "no-cache"
    body = first.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] <= 3600 and body["patient"] == PATIENT_A
    replay = _token(smart, **exchange)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    with smart.client(body["access_token"]) as c:
        assert c.get(f"/Patient/{PATIENT_A}").status_code == 401  # revoked after the replay
    refresh = _token(
        smart, grant_type="refresh_token", refresh_token=body["refresh_token"], client_id=PUBLIC_APP
    )
    assert refresh.json()["error"] == "invalid_grant"


def test_wrong_code_verifier_is_invalid_grant(smart: SmartServer, browser: Browser) -> None:
    query, _ = _code_flow(smart, browser, "patient/*.rs", patient=PATIENT_A)
    response = _token(
        smart,
        grant_type="authorization_code",
        code=query["code"],
        redirect_uri=REDIRECT,
        client_id=PUBLIC_APP,
        code_verifier=secrets.token_urlsafe(48),
    )
    assert response.json()["error"] == "invalid_grant"


def test_token_redirect_uri_must_match(smart: SmartServer, browser: Browser) -> None:
    query, verifier = _code_flow(smart, browser, "patient/*.rs", patient=PATIENT_A)
    response = _token(
        smart,
        grant_type="authorization_code",
        code=query["code"],
        redirect_uri=REDIRECT + "x",
        client_id=PUBLIC_APP,
        code_verifier=verifier,
    )
    assert response.json()["error"] == "invalid_grant"


def test_user_can_narrow_the_grant_on_the_consent_page(smart: SmartServer, browser: Browser) -> None:
    verifier, challenge = _pkce()
    url = _authorize_url(smart, "launch/patient patient/ImagingStudy.rs patient/Patient.rs", challenge)
    response = browser.authorize(url, "dr-who", PASSWORD, patient=PATIENT_A, uncheck={"patient/Patient.rs"})
    code = _query(response.headers["location"])["code"]
    token = _token(
        smart,
        grant_type="authorization_code",
        code=code,
        redirect_uri=REDIRECT,
        client_id=PUBLIC_APP,
        code_verifier=verifier,
    ).json()
    assert token["scope"].split() == ["launch/patient", "patient/ImagingStudy.rs"]
    with smart.client(token["access_token"]) as c:
        assert c.get(f"/ImagingStudy/{STUDY_A}").status_code == 200
        assert c.get(f"/Patient/{PATIENT_A}").status_code == 403


def test_denied_consent_returns_access_denied_with_state(smart: SmartServer, browser: Browser) -> None:
    _, challenge = _pkce()
    url = _authorize_url(smart, "patient/*.rs", challenge, state="keep-me")
    response = browser.authorize(url, "dr-who", PASSWORD, patient=PATIENT_A, deny=True)
    query = _query(response.headers["location"])
    assert query == {"error": "access_denied", "state": "keep-me"} | {
        k: v for k, v in query.items() if k == "error_description"
    }


def test_scopes_the_client_is_not_registered_for_are_not_granted(
    smart: SmartServer, browser: Browser
) -> None:
    query, verifier = _code_flow(smart, browser, "patient/*.rs system/*.cruds made/up.x", patient=PATIENT_A)
    token = _token(
        smart,
        grant_type="authorization_code",
        code=query["code"],
        redirect_uri=REDIRECT,
        client_id=PUBLIC_APP,
        code_verifier=verifier,
    ).json()
    assert token["scope"] == "patient/*.rs"


def test_admin_scope_only_for_admin_users(smart: SmartServer, browser: Browser) -> None:
    query, verifier = _code_flow(smart, browser, "admin user/*.rs")
    token = _token(
        smart,
        grant_type="authorization_code",
        code=query["code"],
        redirect_uri=REDIRECT,
        client_id=PUBLIC_APP,
        code_verifier=verifier,
    ).json()
    assert token["scope"] == "user/*.rs"
    query, verifier = _code_flow(smart, browser, "admin user/*.rs", user="root")
    token = _token(
        smart,
        grant_type="authorization_code",
        code=query["code"],
        redirect_uri=REDIRECT,
        client_id=PUBLIC_APP,
        code_verifier=verifier,
    ).json()
    assert token["scope"] == "admin user/*.rs"


def test_refresh_narrower_scope_allowed_wider_refused(smart: SmartServer, browser: Browser) -> None:
    query, verifier = _code_flow(
        smart, browser, "online_access patient/ImagingStudy.rs patient/Patient.rs", patient=PATIENT_A
    )
    token = _token(
        smart,
        grant_type="authorization_code",
        code=query["code"],
        redirect_uri=REDIRECT,
        client_id=PUBLIC_APP,
        code_verifier=verifier,
    ).json()
    refresh = token["refresh_token"]
    narrower = _token(
        smart,
        grant_type="refresh_token",
        refresh_token=refresh,
        client_id=PUBLIC_APP,
        scope="patient/ImagingStudy.r",
    )
    assert narrower.status_code == 200, narrower.text
    assert narrower.json()["scope"] == "patient/ImagingStudy.r"
    assert narrower.json()["patient"] == PATIENT_A
    with smart.client(narrower.json()["access_token"]) as c:
        assert c.get(f"/ImagingStudy/{STUDY_A}").status_code == 200
        assert c.get(f"/Patient/{PATIENT_A}").status_code == 403
    for wider in ("patient/*.rs", "patient/ImagingStudy.cruds", "user/ImagingStudy.rs"):
        response = _token(
            smart, grant_type="refresh_token", refresh_token=refresh, client_id=PUBLIC_APP, scope=wider
        )
        assert response.json()["error"] == "invalid_scope", wider
    other_client = _token(
        smart,
        grant_type="refresh_token",
        refresh_token=refresh,
        client_id=SECRET_APP,
        client_secret=smart.secret,
    )
    assert other_client.json()["error"] == "invalid_grant"  # bound to its client


def test_confidential_symmetric_client_authenticates_with_its_secret(
    smart: SmartServer, browser: Browser
) -> None:
    app = smart_client.FHIRClient(
        settings={
            "app_id": SECRET_APP,
            "app_secret": smart.secret,
            "api_base": smart.base_url,
            "redirect_uri": REDIRECT,
            "scope": "user/*.rs",
        }
    )
    app.wants_patient = False
    response = browser.authorize(app.authorize_url, "dr-who", PASSWORD)
    app.handle_callback(response.headers["location"])
    assert (
        app.server.request_json(f"Patient/{PATIENT_B}")["id"] == PATIENT_B
    )  # a clinician sees every patient
    verifier, challenge = _pkce()
    params = _authorize_url(smart, "user/*.rs", challenge, client_id=SECRET_APP)
    code = _query(browser.authorize(params, "dr-who", PASSWORD).headers["location"])["code"]
    wrong = HTTP.post(
        smart.urls.token,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        auth=(SECRET_APP, "wrong-secret-wrong-secret"),
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"


def test_introspection_and_revocation(smart: SmartServer, browser: Browser) -> None:
    # Introspection needs an authenticated client (RFC 7662 §2.1): the confidential app introspects its own.
    app = (SECRET_APP, smart.secret)
    verifier, challenge = _pkce()
    scope = "openid fhirUser patient/*.rs offline_access"
    location = browser.authorize(
        _authorize_url(smart, scope, challenge, client_id=SECRET_APP), "ingrid", PASSWORD
    ).headers["location"]
    form = {"code": _query(location)["code"], "redirect_uri": REDIRECT, "code_verifier": verifier}
    token = HTTP.post(smart.urls.token, data={"grant_type": "authorization_code", **form}, auth=app).json()
    info = HTTP.post(smart.urls.introspect, data={"token": token["access_token"]}, auth=app).json()
    assert info["active"] is True and info["client_id"] == SECRET_APP and info["patient"] == PATIENT_A
    assert info["scope"] == token["scope"] and info["exp"] > 0
    assert info["sub"] == "ingrid" and info["fhirUser"] == f"{smart.base_url}/Patient/{PATIENT_A}"
    refresh_info = HTTP.post(smart.urls.introspect, data={"token": token["refresh_token"]}, auth=app).json()
    assert refresh_info["active"] is True
    assert HTTP.post(smart.urls.introspect, data={"token": "nonsense"}, auth=app).json() == {"active": False}
    revoked = HTTP.post(smart.urls.revoke, data={"token": token["access_token"]}, auth=app)
    assert revoked.status_code == 200
    inactive = HTTP.post(smart.urls.introspect, data={"token": token["access_token"]}, auth=app).json()
    assert inactive == {"active": False}
    with smart.client(token["access_token"]) as c:
        assert c.get(f"/Patient/{PATIENT_A}").status_code == 401
    HTTP.post(smart.urls.revoke, data={"token": token["refresh_token"]}, auth=app)
    refresh = {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]}
    assert HTTP.post(smart.urls.token, data=refresh, auth=app).json()["error"] == "invalid_grant"


def test_expired_token_introspects_inactive(smart: SmartServer) -> None:
    token = smart.mint("system/*.rs", lifetime=-5, client_id=SECRET_APP)
    introspected = HTTP.post(smart.urls.introspect, data={"token": token}, auth=(SECRET_APP, smart.secret))
    assert introspected.json() == {"active": False}


def test_login_page_is_accessible_and_safe_to_render(smart: SmartServer, browser: Browser) -> None:
    _, challenge = _pkce()
    page = browser.open(_authorize_url(smart, "patient/*.rs", challenge))
    assert page.status_code == 200
    assert {"username", "password"} <= labelled_inputs(page.text)
    assert 'name="viewport"' in page.text and "/auth/static/auth.css" in page.text
    assert (
        page.headers["x-frame-options"] == "DENY"
        and "frame-ancestors 'none'" in page.headers["content-security-policy"]
    )
    assert "httponly" in page.headers["set-cookie"].lower()
    css = HTTP.get(f"{smart.origin}/auth/static/auth.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    wrong = browser.submit(page, {"username": "dr-who", "password": "nope-nope"})
    assert wrong.status_code == 401 and "not correct" in wrong.text


def test_login_from_another_browser_is_refused(smart: SmartServer, browser: Browser) -> None:
    _, challenge = _pkce()
    page = browser.open(_authorize_url(smart, "patient/*.rs", challenge))
    other = Browser(smart.origin)
    try:
        response = other.submit(page, {"username": "dr-who", "password": PASSWORD})
    finally:
        other.close()
    assert response.status_code == 400 and "expired" in response.text


def test_authorize_post_and_patient_picker_search(smart: SmartServer, browser: Browser) -> None:
    _, challenge = _pkce()
    params = dict(parse_qs(urlsplit(_authorize_url(smart, "launch/patient patient/*.rs", challenge)).query))
    page = browser.client.post(smart.urls.authorize, data={k: v[0] for k, v in params.items()})
    assert page.status_code == 200 and 'action="/auth/login"' in page.text  # authorize-post
    picker = browser.submit(page, {"username": "dr-who", "password": PASSWORD})
    assert 'action="/auth/patient"' in picker.text and "Doe" in picker.text and "Mwakyusa" in picker.text
    found = browser.submit(picker, {"q": "mwakyusa"}, form_index=0)
    assert found.status_code == 200 and "Mwakyusa" in found.text and "Doe" not in found.text
    consent = browser.submit(found, choose=("patient", PATIENT_B))
    assert 'action="/auth/consent"' in consent.text and "Amina" in consent.text
