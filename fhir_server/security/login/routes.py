"""The pages between `/authorize` and the redirect back to the app: login, patient picker, consent.

Standalone launch with `launch/patient` (or any `patient/` scope): a clinician or admin picks the patient;
a patient user is their own patient. EHR launch: the patient comes from the launch context, and a patient
user may only launch for themselves. The user then sees the scopes in plain words and may untick any of
them; the app gets what is left (never more than it asked for and is registered for; `admin` only for admins).
"""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import urlencode

from authlib.oauth2 import OAuth2Error
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from fhir_server.audit.log import AuditRecord, Outcome, Who
from fhir_server.errors import FhirError
from fhir_server.resource_types import ID_PATTERN
from fhir_server.search.conditions import Candidate
from fhir_server.search.dates import parse_interval
from fhir_server.search.request import parse_search
from fhir_server.security.access.store import SecuredStore, store_for
from fhir_server.security.accounts.users import User
from fhir_server.security.enforcement.policy import AccessContext
from fhir_server.security.enforcement.principal import Principal
from fhir_server.security.enforcement.scopes import ADMIN, LAUNCH, LAUNCH_PATIENT, ScopeSet, join, split
from fhir_server.security.login.consent_text import describe
from fhir_server.security.login.pages import error_page, page
from fhir_server.security.oauth.oauth_request import PlainOAuth2Request, read_form
from fhir_server.security.oauth.pending import MAX_LOGIN_FAILURES, PendingAuthorization
from fhir_server.security.oauth.routes import (
    BROWSER_COOKIE,
    authorization_error,
    components,
    server_for,
    urls_of,
)

router = APIRouter(prefix="/auth")
_PICKER_LIMIT = 50
# Words of the picker's query that become search criteria; more would only narrow an already short list.
_PICKER_WORDS = 5
_WORD_SEPARATORS = re.compile(r"[\s,]+")
# What the signed-in user may see of Patients, as a token of theirs would say it: everything for clinicians
# and admins, their own record for a patient (fhir_server.security.enforcement.policy, user/ scopes).
_PICKER_SCOPE = "user/Patient.rs"
_EXPIRED = (
    "This sign-in request has expired or was started in another browser. Return to the app and start again."
)


def _pending(request: Request, tx: str) -> PendingAuthorization | None:
    return components(request).pending.get(tx, request.cookies.get(BROWSER_COOKIE))


@router.post("/login")
async def login(request: Request) -> Response:
    form = dict(await read_form(request))
    return await run_in_threadpool(_login, request, form)


def _login(request: Request, form: dict[str, str]) -> Response:
    auth = components(request)
    pending = _pending(request, form.get("tx", ""))
    if pending is None:
        return error_page("Sign-in expired", _EXPIRED)
    username = form.get("username", "").strip()
    # Both budgets, this sign-in request's and the account's, are spent before the password is compared, so
    # that parallel guesses cannot outrun them (users.py, pending.py).
    attempt = auth.pending.take_login_attempt(pending.tx)
    if attempt is None:
        auth.pending.finish(pending.tx)
        return error_page("Too many attempts", "Sign-in was stopped after too many failed attempts.", 429)
    result = auth.users.login(username, form.get("password", ""))
    user = result.user
    if user is None:
        reason = f"login failed: {result.outcome.value}"
        _audit_login(request, username or "unknown", pending.client_id, "4", reason)
        if attempt >= MAX_LOGIN_FAILURES:
            auth.pending.finish(pending.tx)
            return error_page("Too many attempts", "Sign-in was stopped after too many failed attempts.", 429)
        # The same answer for a locked or disabled account as for a wrong password: no hint which names exist.
        return page(
            "login.html",
            401,
            tx=pending.tx,
            client_name=pending.client_name,
            username=username,
            error="The user name or password is not correct.",
            title="Sign in",
        )
    auth.pending.update(pending.tx, username=user.username, auth_time=int(time.time()))
    if pending.launch_patient is not None:
        if user.role == "patient" and pending.launch_patient != user.patient:
            return error_page("Not your record", "This launch is for another patient's record.", 403)
        auth.pending.update(pending.tx, patient=pending.launch_patient)
        return _consent_page(request, pending.tx)
    if _needs_patient(pending.scope):
        if user.role == "patient":
            auth.pending.update(pending.tx, patient=user.patient)
            return _consent_page(request, pending.tx)
        return _picker(request, pending, "", _picker_store(request, user, pending.client_id))
    return _consent_page(request, pending.tx)


def _needs_patient(scope: str) -> bool:
    return any(s == LAUNCH_PATIENT or s.startswith("patient/") for s in split(scope))


@router.get("/patients")
def patients(request: Request, tx: str = "", q: str = "") -> Response:
    pending = _pending(request, tx)
    if pending is None or pending.username is None:
        return error_page("Sign-in expired", _EXPIRED)
    user = components(request).users.get(pending.username)
    return _picker(request, pending, q, _picker_store(request, user, pending.client_id))


def _picker(
    request: Request, pending: PendingAuthorization, query: str, store: SecuredStore | None
) -> Response:
    found, truncated = _find_patients(store, query)
    return page(
        "patients.html",
        tx=pending.tx,
        client_name=pending.client_name,
        patients=found,
        truncated=truncated,
        query=query,
        title="Choose a patient",
    )


def _picker_store(request: Request, user: User | None, client_id: str) -> SecuredStore | None:
    """The data the signed-in user may see, bound to an access built as their token's would be (subject,
    client, role, fhirUser): the picker never lists a patient the user could not read with a token."""
    if user is None:
        return None
    access = AccessContext(
        subject=user.username,
        scopes=ScopeSet.parse(_PICKER_SCOPE),
        base_url=urls_of(request).fhir_base,
        client_id=client_id,
        fhir_user=user.fhir_user,
        role=user.role,
    )
    address = request.client.host if request.client else None
    return store_for(request.app.state, access, "search", address)


def _find_patients(store: SecuredStore | None, query: str) -> tuple[list[dict[str, Any]], bool]:
    """The Patients the user may see that match the query, by FHIR search through the user's secured store
    (one AuditEvent for those listed): the first `_PICKER_LIMIT` in id order, shown by name, and whether
    more matched."""
    if store is None:
        return [], False
    engine = store.search_engine("Patient")
    matches: dict[str, Candidate] = {}
    for pairs in _picker_searches(query):
        try:
            request = parse_search(
                "Patient", pairs, strict=True, default_count=_PICKER_LIMIT, max_count=_PICKER_LIMIT
            )
        except FhirError:
            continue  # a word no search parameter takes (not a date, say): it matches nobody
        for candidate in engine.candidates("Patient", engine.clauses(request.criteria)):
            matches[candidate.id] = candidate
    ordered = [matches[i] for i in sorted(matches)]
    shown = store.showing()
    found = [
        _summary(version.resource)
        for version in engine.load("Patient", ordered[:_PICKER_LIMIT])
        if version.resource is not None and shown.visible("Patient", version.resource)
    ]
    shown.record("patient picker")
    return sorted(found, key=lambda p: p["name"].casefold()), len(ordered) > _PICKER_LIMIT


def _picker_searches(query: str) -> list[list[tuple[str, str]]]:
    """The FHIR searches the picker's query stands for, their matches united: every word in a name part
    (`name:contains`, repeated: all words) or, when it is a date, the birth date; and a single word that
    could be an id, that Patient (`_id`). No words: every Patient."""
    words = [w for w in _WORD_SEPARATORS.split(query.strip()) if w][:_PICKER_WORDS]
    criteria = [
        ("birthdate", word) if parse_interval(word) is not None else ("name:contains", _escaped(word))
        for word in words
    ]
    searches = [criteria]
    if len(words) == 1 and ID_PATTERN.match(words[0]):
        searches.append([("_id", words[0])])
    return searches


def _escaped(word: str) -> str:
    """A word as one search value (https://hl7.org/fhir/R4/search.html#escaping)."""
    return re.sub(r"([\\$|,])", r"\\\1", word)


def _summary(patient: dict[str, Any]) -> dict[str, Any]:
    names = patient.get("name") or [{}]
    name = names[0] if isinstance(names[0], dict) else {}
    text = name.get("text") or " ".join([*name.get("given", []), name.get("family", "")]).strip()
    return {
        "id": patient.get("id"),
        "name": text or "(no name)",
        "birth_date": patient.get("birthDate"),
        "gender": patient.get("gender"),
    }


@router.post("/patient")
async def choose_patient(request: Request) -> Response:
    form = dict(await read_form(request))
    return await run_in_threadpool(_choose_patient, request, form)


def _choose_patient(request: Request, form: dict[str, str]) -> Response:
    auth = components(request)
    pending = _pending(request, form.get("tx", ""))
    if pending is None or pending.username is None:
        return error_page("Sign-in expired", _EXPIRED)
    user = auth.users.get(pending.username)
    if user is None or user.role == "patient":
        return error_page("Not allowed", "Only clinicians and administrators choose a patient.", 403)
    chosen = form.get("patient", "")
    store = _picker_store(request, user, pending.client_id)
    current = store.read("Patient", chosen) if store is not None and chosen else None
    if current is None or current.deleted:
        return _picker(request, pending, "", store)
    auth.pending.update(pending.tx, patient=chosen)
    return _consent_page(request, pending.tx)


def _consent_page(request: Request, tx: str) -> Response:
    auth = components(request)
    pending = _pending(request, tx)
    if pending is None or pending.username is None:
        return error_page("Sign-in expired", _EXPIRED)
    user = auth.users.get(pending.username)
    if user is None:
        return error_page("Sign-in expired", _EXPIRED)
    client = auth.clients.get(pending.client_id)
    if client is not None and client.first_party:
        # The server's own apps (the dashboard) act for the user on the user's own server: there is no third
        # party to consent to. The user gets what their role may grant, as if they had allowed everything.
        auth.pending.finish(pending.tx)
        return _decide(request, pending, user, set(_offerable(pending, user)), allow=True)
    patient_label = _patient_label(_picker_store(request, user, pending.client_id), pending.patient)
    scopes = [{"scope": s, "text": describe(s, patient_label)} for s in _offerable(pending, user)]
    return page(
        "consent.html",
        tx=pending.tx,
        client_name=pending.client_name,
        user_label=user.name or user.username,
        patient_label=patient_label,
        scopes=scopes,
        title="Allow access",
    )


def _offerable(pending: PendingAuthorization, user: User) -> list[str]:
    """What this user can grant this app: `admin` only as an admin, patient scopes only with a patient."""
    offer = []
    for scope in split(pending.scope):
        if scope == ADMIN and user.role != "admin":
            continue
        if (scope.startswith("patient/") or scope in (LAUNCH_PATIENT, LAUNCH)) and pending.patient is None:
            continue
        offer.append(scope)
    return offer


def _patient_label(store: SecuredStore | None, patient_id: str | None) -> str | None:
    """The consent page names the launch patient, read as the user would read it (an id when it is not
    visible to them: the page must not show a name the user could not see)."""
    if patient_id is None or store is None:
        return None
    version = store.read("Patient", patient_id)
    if version is None or version.resource is None:
        return patient_id
    return str(_summary(version.resource)["name"])


@router.post("/consent")
async def consent(request: Request) -> Response:
    form = await read_form(request)
    return await run_in_threadpool(_consent, request, form)


def _consent(request: Request, form: list[tuple[str, str]]) -> Response:
    auth = components(request)
    fields = dict(form)
    pending = _pending(request, fields.get("tx", ""))
    user = auth.users.get(pending.username) if pending and pending.username else None
    if pending is None or user is None:
        return error_page("Sign-in expired", _EXPIRED)
    auth.pending.finish(pending.tx)  # one decision per request, whatever it is
    chosen = {value for key, value in form if key == "scope"}
    return _decide(request, pending, user, chosen, allow=fields.get("decision") == "allow")


def _decide(
    request: Request, pending: PendingAuthorization, user: User, chosen: set[str], *, allow: bool
) -> Response:
    """Redirects back to the app with a code for the chosen scopes this user may grant, or with an error."""
    granted = join(s for s in _offerable(pending, user) if s in chosen)
    allow = allow and bool(granted)
    params = [(k, v) for k, v in pending.params if k != "scope"] + [("scope", granted or pending.scope)]
    urls = urls_of(request)
    server = server_for(request, urls.authorize)
    oauth = PlainOAuth2Request("GET", f"{urls.authorize}?{urlencode(params)}", {}, params, [])
    try:
        grant = server.get_consent_grant(oauth)
    except OAuth2Error as error:
        return authorization_error(server, oauth, error)
    # authlib is untyped; its responses are what SmartAuthorizationServer.handle_response builds.
    response: Response
    if not allow:
        response = server.create_authorization_response(oauth, grant_user=None, grant=grant)
        return response
    principal = Principal(
        username=user.username,
        role=user.role,
        fhir_user=user.fhir_user,
        patient=pending.patient if _binds_patient(granted) else None,
        auth_time=pending.auth_time or int(time.time()),
        need_patient_banner=not pending.ehr_launch,
    )
    response = server.create_authorization_response(oauth, grant_user=principal, grant=grant)
    return response


def _binds_patient(scope: str) -> bool:
    return any(s in (LAUNCH, LAUNCH_PATIENT) or s.startswith("patient/") for s in split(scope))


def _audit_login(request: Request, username: str, client_id: str, outcome: Outcome, description: str) -> None:
    address = request.client.host if request.client else None
    components(request).audit.record(
        AuditRecord(
            category="login",
            subtype="token",
            action="E",
            outcome=outcome,
            who=Who(username, client_id=client_id, role="unverified", address=address),
            description=description,
        )
    )
