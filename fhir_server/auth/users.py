"""User accounts of the login page: admins, clinicians, and patients linked to their Patient resource
(the `fhirUser` of App Launch 2.2 §scopes-for-requesting-identity-data). Passwords are scrypt-hashed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from fhir_server.auth.passwords import hash_secret, verify_secret
from fhir_server.auth.policy import ROLES, Role

_USERNAME = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
_FHIR_USER = re.compile(
    r"^(Patient|Practitioner|PractitionerRole|RelatedPerson|Person)/[A-Za-z0-9\-.]{1,64}$"
)
MIN_PASSWORD_LENGTH = 8
# Password guessing is throttled per account: after this many failures within the window, every attempt fails
# (even with the right password) until the window has passed since the last failure.
MAX_FAILED_LOGINS = 10
LOCKOUT = timedelta(minutes=15)


class UserError(ValueError):
    """The user request is invalid; the message says what to fix."""


@dataclass(frozen=True)
class User:
    username: str
    role: Role
    fhir_user: str | None = None  # relative reference, e.g. "Patient/123"
    name: str | None = None

    @property
    def patient(self) -> str | None:
        if self.fhir_user and self.fhir_user.startswith("Patient/"):
            return self.fhir_user.split("/", 1)[1]
        return None

    def public_view(self) -> dict[str, Any]:
        return {"username": self.username, "role": self.role, "fhirUser": self.fhir_user, "name": self.name}


class UserRegistry:
    def __init__(self, db: Database[dict[str, Any]]) -> None:
        self._users = db.get_collection("auth_users")

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
        except DuplicateKeyError:
            raise UserError(f"user {username!r} already exists") from None
        return user

    def authenticate(self, username: str, password: str) -> User | None:
        doc = self._users.find_one({"_id": username}) if _USERNAME.match(username or "") else None
        # Hash even for an unknown name, so response time does not tell which names exist.
        ok = verify_secret(password, doc["password"] if doc else None)
        if doc is None:
            return None
        now = datetime.now(UTC)
        last = doc.get("last_failure")
        recent = last is not None and now - last < LOCKOUT
        if recent and int(doc.get("failures", 0)) >= MAX_FAILED_LOGINS:
            return None
        if not ok:
            failures = int(doc.get("failures", 0)) + 1 if recent else 1
            self._users.update_one({"_id": username}, {"$set": {"failures": failures, "last_failure": now}})
            return None
        if doc.get("failures"):
            self._users.update_one({"_id": username}, {"$set": {"failures": 0}})
        return _from_doc(doc)

    def get(self, username: str) -> User | None:
        doc = self._users.find_one({"_id": username})
        return None if doc is None else _from_doc(doc)

    def list(self) -> list[User]:
        return [_from_doc(d) for d in self._users.find().sort("_id", 1)]

    def remove(self, username: str) -> bool:
        return self._users.delete_one({"_id": username}).deleted_count == 1


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
    return User(username, role, fhir_user, name)  # type: ignore[arg-type]


def _from_doc(doc: dict[str, Any]) -> User:
    return User(doc["_id"], doc["role"], doc.get("fhir_user"), doc.get("name"))
