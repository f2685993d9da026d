"""Plain-language descriptions of scopes for the consent page (App Launch 2.2 asks the EHR to show the
user what an app will be able to do)."""

from __future__ import annotations

from fhir_server.security.enforcement.scopes import (
    ADMIN,
    FHIR_USER,
    LAUNCH,
    LAUNCH_PATIENT,
    OFFLINE_ACCESS,
    ONLINE_ACCESS,
    OPENID,
    parse_resource_scope,
)

_CONTEXT = {
    OPENID: "Confirm who you are",
    FHIR_USER: "Know your user profile (who is signed in)",
    LAUNCH: "Open with the patient you are working on",
    LAUNCH_PATIENT: "Know which patient you selected",
    OFFLINE_ACCESS: "Keep access after you close the app, until you revoke it",
    ONLINE_ACCESS: "Keep access while you are signed in today",
    ADMIN: "Administer this server (apps, users and the audit log)",
}
_VERBS = {"c": "create", "r": "read", "u": "update", "d": "delete", "s": "search"}
_NOUNS = {
    "*": "all records",
    "Patient": "patient demographics",
    "ImagingStudy": "imaging studies",
    "Organization": "hospitals",
    "Endpoint": "imaging network addresses",
}


def describe(scope: str, patient_label: str | None) -> str:
    if scope in _CONTEXT:
        return _CONTEXT[scope]
    parsed = parse_resource_scope(scope)
    if parsed is None:
        return scope
    verbs = [_VERBS[letter] for letter in "cruds" if letter in parsed.permissions]
    verb_text = ", ".join(verbs[:-1]) + (" and " if len(verbs) > 1 else "") + verbs[-1]
    noun = _NOUNS.get(parsed.resource_type, parsed.resource_type)
    whose = {
        "patient": f"of {patient_label or 'the selected patient'}",
        "user": "that you have access to",
        "system": "in the whole system",
    }[parsed.context]
    text = f"{verb_text.capitalize()} {noun} {whose}"
    if parsed.filters:
        text += " (only where " + ", ".join(f"{k} = {v}" for k, v in parsed.filters) + ")"
    return text
