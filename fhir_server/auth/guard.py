"""Enforcement at the storage boundary: a repository wrapper that checks every resource an interaction
reads or writes against the caller's token, and audits access to patient data.

Routes hand interactions `guarded(request, interaction)` instead of the repository, so read, vread,
history, create, update, patch, delete and each batch/transaction entry are checked with the resource in
hand — the existing interaction code stays as it is. What is checked:
- read/vread/instance history: `r` on the current version (and on each version returned);
- create: `c` on the new resource; update: `u` on the new content and on the version it replaces
  (so nothing moves into or out of a compartment); patch: `u` likewise (patch reads the current version
  to apply the patch; that read is not shown to the client, so it needs no `r`); delete: `d` on the
  current version;
- type and system history: `s` on the type (every type for system history) without compartment
  restriction — a history page cannot be confined to one patient's compartment, so patient-level tokens
  use instance history instead.
A denial is a 403 OperationOutcome and an AuditEvent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Literal, cast

from starlette.requests import HTTPConnection

from fhir_server.auth import policy
from fhir_server.auth.audit import AuditLog, AuditRecord, Who
from fhir_server.auth.compartment import is_patient_data, patient_of
from fhir_server.auth.enforcement import access_of, forbidden
from fhir_server.auth.policy import AccessContext
from fhir_server.authz import Action
from fhir_server.resource_types import MODELS
from fhir_server.storage.mongo import MongoRepository
from fhir_server.storage.repository import HistoryCursor, HistoryPage, JsonObject, Method, ResourceVersion

Interaction = Literal[
    "read",
    "vread",
    "history-instance",
    "history-type",
    "history-system",
    "create",
    "update",
    "patch",
    "delete",
]
_ACTION_CODES = {"create": "C", "update": "U", "patch": "U", "delete": "D"}
_WRITE_ACTIONS: dict[str, Action] = {"update": "update", "patch": "update", "delete": "delete"}
# Interactions that read the current version only to check it; their own method records the access.
_AUDITED_ELSEWHERE = frozenset({"vread", "history-instance", "update", "delete"})
_ENTRY_INTERACTIONS: dict[str, Interaction] = {
    "GET": "read",
    "HEAD": "read",
    "POST": "create",
    "PUT": "update",
    "PATCH": "patch",
    "DELETE": "delete",
}


class GuardedRepository:
    def __init__(
        self,
        inner: MongoRepository,
        access: AccessContext,
        interaction: Interaction,
        audit: AuditLog,
        address: str | None,
    ) -> None:
        self._inner = inner
        self._access = access
        self._interaction = interaction
        self._audit = audit
        self._who = Who(
            access.subject,
            client_id=access.client_id,
            role=access.role,
            fhir_user=access.fhir_user,
            address=address,
        )

    # -- reads ------------------------------------------------------------------------------------------

    def read(self, resource_type: str, resource_id: str) -> ResourceVersion | None:
        version = self._inner.read(resource_type, resource_id)
        if version is not None and version.resource is not None:
            # A write reads the current version to change it, not to show it: it needs the write permission.
            action = _WRITE_ACTIONS.get(self._interaction, "read")
            self._check(action, version)
            if action == "read" and self._interaction not in _AUDITED_ELSEWHERE:
                self._audited([version])
        return version

    def vread(self, resource_type: str, resource_id: str, version: int) -> ResourceVersion | None:
        found = self._inner.vread(resource_type, resource_id, version)
        if found is not None and found.resource is not None:
            self._check("read", found)
            current = self._inner.read(resource_type, resource_id)
            if current is not None and current.resource is not None and current.version != found.version:
                self._check("read", current)
            self._audited([found])
        return found

    def history(
        self,
        *,
        resource_type: str | None,
        resource_id: str | None,
        since: datetime | None,
        count: int,
        cursor: HistoryCursor | None,
    ) -> HistoryPage:
        if resource_id is None:
            for t in [resource_type] if resource_type else sorted(MODELS):
                if not policy.unrestricted_search(self._access, t):
                    self._deny(
                        "search",
                        t,
                        None,
                        f"{'Type' if resource_type else 'System'} history needs unrestricted search "
                        f"access to {t} (patient-level tokens: use instance history)",
                    )
        page = self._inner.history(
            resource_type=resource_type, resource_id=resource_id, since=since, count=count, cursor=cursor
        )
        if resource_id is not None:
            for version in page.entries:
                if version.resource is not None:
                    self._check("read", version)
        self._audited(page.entries)
        return page

    # -- writes -----------------------------------------------------------------------------------------

    def create(self, resource: JsonObject, resource_id: str | None = None) -> ResourceVersion:
        self._check_content("create", resource["resourceType"], resource)
        version = self._inner.create(resource, resource_id)
        self._audited([version])
        return version

    def update(
        self, resource: JsonObject, *, expected_version: int | None, method: Method = "PUT"
    ) -> tuple[ResourceVersion, bool]:
        resource_type = resource["resourceType"]
        self._check_content("update", resource_type, resource)
        current = self._inner.read(resource_type, resource["id"])
        if current is not None and current.resource is not None:
            self._check("update", current)
        version, created = self._inner.update(resource, expected_version=expected_version, method=method)
        self._audited([version], previous=current)
        return version, created

    def delete(
        self, resource_type: str, resource_id: str, *, expected_version: int | None = None
    ) -> ResourceVersion | None:
        current = self._inner.read(resource_type, resource_id)
        if current is not None and current.resource is not None:
            self._check("delete", current)
        elif not policy.decide(self._access, "delete", resource_type, None):
            self._deny(
                "delete",
                resource_type,
                None,
                f"The access token's scopes do not allow delete on {resource_type}",
            )
        version = self._inner.delete(resource_type, resource_id, expected_version=expected_version)
        if version is not None:
            self._audited([version], previous=current)
        return version

    @contextmanager
    def transaction(self) -> Iterator[MongoRepository]:
        with self._inner.transaction() as tx:
            yield guard(tx, self._access, self._interaction, self._audit, self._who.address)

    def __getattr__(self, name: str) -> Any:
        # Anything else (search helpers used to resolve conditional references) returns ids, not content.
        return getattr(self._inner, name)

    # -- decisions --------------------------------------------------------------------------------------

    def _check(self, action: Action, version: ResourceVersion) -> None:
        self._check_content(action, version.resource_type, version.resource or {}, version.reference)

    def _check_content(
        self, action: Action, resource_type: str, resource: JsonObject, reference: str | None = None
    ) -> None:
        if not policy.decide(self._access, action, resource_type, resource):
            where = reference or resource_type
            self._deny(
                action, resource_type, resource, f"The access token's scopes do not allow {action} on {where}"
            )

    def _deny(self, action: Action, resource_type: str, resource: JsonObject | None, message: str) -> None:
        patient = patient_of(resource_type, resource, self._access.base_url) if resource else None
        reference = f"{resource_type}/{resource['id']}" if resource and resource.get("id") else resource_type
        self._audit.record(
            AuditRecord(
                category="denied",
                subtype=self._interaction,
                action=_ACTION_CODES.get(self._interaction, "R"),  # type: ignore[arg-type]
                outcome="4",
                who=self._who,
                entities=(reference,),
                patients=(patient,) if patient else (),
                description=message,
            )
        )
        raise forbidden(message)

    def _audited(self, versions: list[ResourceVersion], previous: ResourceVersion | None = None) -> None:
        """One AuditEvent per request for the patient data it touched (who, what, when)."""
        touched = [v for v in versions if is_patient_data(v.resource_type)]
        if not touched:
            return
        base = self._access.base_url
        patients = {patient_of(v.resource_type, v.resource, base) for v in touched if v.resource is not None}
        if previous is not None and previous.resource is not None:
            patients.add(patient_of(previous.resource_type, previous.resource, base))
        self._audit.record(
            AuditRecord(
                category="rest",
                subtype=self._interaction,
                action=_ACTION_CODES.get(self._interaction, "R"),  # type: ignore[arg-type]
                outcome="0",
                who=self._who,
                entities=tuple(dict.fromkeys(v.reference for v in touched)),
                patients=tuple(sorted(p for p in patients if p)),
            )
        )


def guard(
    repository: MongoRepository,
    access: AccessContext,
    interaction: Interaction,
    audit: AuditLog,
    address: str | None,
) -> MongoRepository:
    # The wrapper provides what interactions use of MongoRepository; the cast keeps their signatures.
    return cast(MongoRepository, GuardedRepository(repository, access, interaction, audit, address))


def guarded(request: HTTPConnection, interaction: Interaction) -> MongoRepository:
    """The repository an interaction of this request may use: every resource it touches is checked."""
    services = request.app.state.services
    auth = request.app.state.auth
    address = request.client.host if request.client else None
    return guard(services.repository, access_of(request), interaction, auth.audit, address)


def entry_guard(request: HTTPConnection) -> Callable[[MongoRepository, str], MongoRepository]:
    """For batch/transaction bundles: each entry is checked on its own, by its HTTP method."""
    access = access_of(request)
    auth = request.app.state.auth
    address = request.client.host if request.client else None

    def for_entry(repository: MongoRepository, method: str) -> MongoRepository:
        return guard(repository, access, _ENTRY_INTERACTIONS.get(method, "read"), auth.audit, address)

    return for_entry
