"""User accounts of the login page: admins, clinicians, and patients linked to their Patient resource
(the `fhirUser` of App Launch 2.2 §scopes-for-requesting-identity-data). Passwords are scrypt-hashed.

Deleting or disabling a user revokes every token issued for them (see revocation.py); a disabled user cannot
sign in, and re-enabling them does not bring the old tokens back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

from fhir_server.security.accounts.passwords import hash_secret, verify_secret
from fhir_server.security.enforcement.policy import ROLES, Role
from fhir_server.security.oauth.revocation import Revocations
from fhir_server.storage.documents import Documents
from fhir_server.storage.errors import DuplicateKey

_USERNAME = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
_FHIR_USER = re.compile(
    r"^(Patient|Practitioner|PractitionerRole|RelatedPerson|Person)/[A-Za-z0-9\-.]{1,64}$"
)
MIN_PASSWORD_LENGTH = 8
# Password guessing is throttled per account: after this many failures within the window, every attempt fails
# (even with the right password) until the window has passed since the last failure. Success resets the count.
MAX_FAILED_LOGINS = 10
LOCKOUT = timedelta(minutes=15)
# Taking an attempt is two conditional updates; a concurrent attempt opening a new window between them makes
# both miss once, never twice in a row.
_ATTEMPT_TRIES = 3


class UserError(ValueError):
    """The user request is invalid; the message says what to fix."""


@dataclass(frozen=True)
class User:
    username: str
    role: Role
    fhir_user: str | None = None  # relative reference, e.g. "Patient/123"
    name: str | None = None
    disabled: bool = False

    @property
    def patient(self) -> str | None:
        if self.fhir_user and self.fhir_user.startswith("Patient/"):
            return self.fhir_user.split("/", 1)[1]
        return None

    def public_view(self) -> dict[str, Any]:
        view: dict[str, Any] = {
            "username": self.username,
            "role": self.role,
            "fhirUser": self.fhir_user,
            "name": self.name,
        }
        if self.disabled:  # only then, so that the view of an ordinary account keeps its shape
            view["disabled"] = True
        return view


class LoginOutcome(Enum):
    SIGNED_IN = "signed in"
    WRONG = "wrong user name or password"
    LOCKED = "account locked after too many failed attempts"
    DISABLED = "account disabled"


@dataclass(frozen=True)
class LoginResult:
    outcome: LoginOutcome
    user: User | None = None  # set when signed in


class UserRegistry:
    def __init__(self, documents: Documents) -> None:
        self._users = documents.collection("auth_users")
        self._revocations = Revocations(documents)

    def add(
        self, username: str, password: str, role: str, fhir_user: str | None = None, name: str | None = None
    ) -> User:
        user = _validated(username, password, role, fhir_user, name)
        doc = {
            "_id": user.username,
            "role": user.role,
            "fhir_user": user.fhir_user,
            "name": user.name,
            "password": hash_secret(password),
            "created": datetime.now(UTC),
        }
        try:
            self._users.insert_one(doc)
        except DuplicateKey:
            raise UserError(f"user {username!r} already exists") from None
        return user

    def authenticate(self, username: str, password: str) -> User | None:
        return self.login(username, password).user

    def login(self, username: str, password: str) -> LoginResult:
        """Check a password, at most MAX_FAILED_LOGINS times per window and account however many guesses
        arrive in parallel: an attempt is taken (counted as a failure) atomically BEFORE the password is
        compared, and only a correct password gives it back by resetting the count."""
        doc = self._users.find_one({"_id": username}) if _USERNAME.match(username or "") else None
        if doc is None or doc.get("disabled"):
            # Hash anyway, so that response time does not tell which names exist (or are disabled).
            verify_secret(password, None)
            return LoginResult(LoginOutcome.WRONG if doc is None else LoginOutcome.DISABLED)
        if not self._take_attempt(username):
            verify_secret(password, None)  # as slow as a real comparison, but no guess is compared
            return LoginResult(LoginOutcome.LOCKED)
        if not verify_secret(password, doc["password"]):
            return LoginResult(LoginOutcome.WRONG)
        self._users.update_one({"_id": username}, {"$set": {"failures": 0}})
        return LoginResult(LoginOutcome.SIGNED_IN, _from_doc(doc))

    def _take_attempt(self, username: str) -> bool:
        """Count one attempt against the account unless it is locked; False when it is. Each update below is
        conditional and atomic in the database, so parallel attempts (in any worker) cannot all read the same
        count and all pass: at most MAX_FAILED_LOGINS of them get through per window."""
        now = datetime.now(UTC)
        window_start = now - LOCKOUT
        for _ in range(_ATTEMPT_TRIES):
            within = self._users.update_one(
                {
                    "_id": username,
                    "last_failure": {"$gte": window_start},
                    "failures": {"$lt": MAX_FAILED_LOGINS},
                },
                {"$inc": {"failures": 1}, "$set": {"last_failure": now}},
            )
            if within.matched:
                return True
            # No failure within the window: this attempt opens a new one (only one concurrent attempt can,
            # since it moves last_failure into the window for the others).
            fresh = self._users.update_one(
                {"_id": username, "$or": [{"last_failure": None}, {"last_failure": {"$lt": window_start}}]},
                {"$set": {"failures": 1, "last_failure": now}},
            )
            if fresh.matched:
                return True
        return False

    def get(self, username: str) -> User | None:
        doc = self._users.find_one({"_id": username})
        return None if doc is None else _from_doc(doc)

    def list(self) -> list[User]:
        return [_from_doc(d) for d in self._users.find(sort=[("_id", 1)])]

    def remove(self, username: str) -> bool:
        if self.get(username) is None:
            return False
        deleted = self._revocations.deactivating(
            "user", username, lambda: self._users.delete_one({"_id": username})
        )
        return deleted == 1

    def set_disabled(self, username: str, disabled: bool) -> User | None:
        """Disable (revoking every token issued for the user) or re-enable; None if there is no such user."""
        if self.get(username) is None:
            return None

        def change() -> dict[str, Any] | None:
            update = {"$set": {"disabled": disabled}}
            return self._users.find_one_and_update({"_id": username}, update, return_after=True)

        doc = self._revocations.deactivating("user", username, change) if disabled else change()
        return None if doc is None else _from_doc(doc)

    def active(self, username: str) -> User | None:
        """The user if they exist and are not disabled (checked when a token is minted for them)."""
        user = self.get(username)
        return None if user is None or user.disabled else user


def _validated(username: str, password: str, role: str, fhir_user: str | None, name: str | None) -> User:
    if not _USERNAME.match(username or ""):
        raise UserError("username: 1-64 characters of A-Z a-z 0-9 . _ @ -")
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}")
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise UserError(f"password: at least {MIN_PASSWORD_LENGTH} characters")
    if fhir_user is not None and not _FHIR_USER.match(fhir_user):
        raise UserError("fhirUser must be a relative reference such as Patient/123 or Practitioner/7")
    if role == "patient" and not (fhir_user or "").startswith("Patient/"):
        raise UserError("a patient user must be linked to their Patient (fhirUser Patient/<id>)")
    return User(username, role, fhir_user, name)


def _from_doc(doc: dict[str, Any]) -> User:
    return User(doc["_id"], doc["role"], doc.get("fhir_user"), doc.get("name"), bool(doc.get("disabled")))
