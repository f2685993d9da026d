"""The secured store: the only way request code reaches data. One per request, bound to the caller's
verified access (Medplum's per-request repository is the model).

Every read, write, search and history it runs applies the caller's access inside the operation:
- searches, chains, `_has`, includes, `$everything` and conditional-write criteria run on `engine`, whose
  every query carries the caller's compartment and scope filters (`fhir_server.security.access.clauses`), so
  counts and pages only ever see what the caller may see;
- reads return None for a resource the caller may not see, exactly as for one that does not exist (no
  existence oracle: 404 either way); a 403 only ever depends on the token's scopes, never on the data;
- writes are checked on the new content (`c`/`u`) and on the version they replace (`u`/`d`).
  Update-as-create needs unrestricted access to the type, so that "absent" and "invisible" answer alike,
  and ids in the sync's id space (`dcm-…`, derived from DICOM) are never created by a client.
- history by type or system needs unrestricted search of every type it shows.
Access to patient data is audited (one AuditEvent per request for what it touched); denials too.

Nothing here passes unknown calls through: what request code may do is exactly the methods below.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Literal, Protocol

from starlette.requests import HTTPConnection

from fhir_server.audit.log import AuditLog, AuditRecord, Who
from fhir_server.errors import FhirError, Problem
from fhir_server.resource_types import MODELS
from fhir_server.search.engine import SearchEngine, SearchLimits
from fhir_server.search.matching import matching_ids
from fhir_server.security.access.clauses import ScopeClauses
from fhir_server.security.enforcement import policy
from fhir_server.security.enforcement.checks import access_of, forbidden
from fhir_server.security.enforcement.compartment import is_patient_data, patient_of
from fhir_server.security.enforcement.patient_parameter import other_patients_named
from fhir_server.security.enforcement.policy import AccessContext, Action
from fhir_server.storage.repository import HistoryCursor, HistoryPage, Method, ResourceStore, ResourceVersion
from fhir_server.type_aliases import JsonObject

Interaction = Literal[
    "read",
    "vread",
    "search",
    "operation",
    "history-instance",
    "history-type",
    "history-system",
    "create",
    "update",
    "patch",
    "delete",
]
# The sync derives these ids from DICOM (fhir_server.dicomweb.ids): a client that could create one would
# receive a stranger's images when the sync later fills it in.
SERVER_OWNED_ID_PREFIX = "dcm-"

_ACTION_CODES: dict[str, Literal["C", "R", "U", "D", "E"]] = {
    "create": "C",
    "update": "U",
    "patch": "U",
    "delete": "D",
    "operation": "E",
}
# A write reads the version it replaces to change it, not to show it: that read needs the write letter.
_WRITE_ACTIONS: dict[str, Action] = {"update": "update", "patch": "update", "delete": "delete"}
# Interactions whose own write records the access (the read before it is not an access of its own).
_AUDITED_ELSEWHERE = frozenset(
    {"vread", "history-instance", "update", "delete", "patch", "search", "operation"}
)


class AuditSink(Protocol):
    """Where a store's audit records go: the AuditLog, or a transaction's `_DeferredAudit` (which a store
    inside that transaction writes to, and which flushes into the store's own sink on commit)."""

    def record(self, record: AuditRecord) -> None: ...


class SecuredStore:
    def __init__(
        self,
        repository: ResourceStore,
        access: AccessContext,
        audit: AuditSink,
        *,
        limits: SearchLimits,
        own_bases: tuple[str, ...],
        interaction: Interaction = "read",
        address: str | None = None,
        clauses: ScopeClauses | None = None,
    ) -> None:
        self._inner = repository
        self._access = access
        self._audit = audit
        self._limits = limits
        self._own_bases = own_bases
        self._interaction = interaction
        self._address = address
        # Compiled once per caller: every store re-bound from this one (batch entries, the version a write
        # replaces, a transaction) shares them.
        self._clauses = clauses or ScopeClauses(access, own_bases)
        self._who = Who(
            access.subject,
            client_id=access.client_id,
            role=access.role,
            fhir_user=access.fhir_user,
            address=address,
        )

    @property
    def access(self) -> AccessContext:
        return self._access

    def audit_log(self) -> AuditLog:
        """The audit log, to read and search: administrators only, since AuditEvents name every user's and
        every patient's accesses. Flushed first, so the caller's own recent requests are in it."""
        if not self._access.is_admin:
            raise forbidden("AuditEvents are available to administrators only (admin scope)")
        if not isinstance(self._audit, AuditLog):  # a transaction's deferred records: nothing to read yet
            raise FhirError(Problem.NOT_SUPPORTED, "AuditEvents cannot be read inside a transaction")
        self._audit.flush()
        return self._audit

    @property
    def engine(self) -> SearchEngine:
        """A search engine whose every query sees only what this caller may see."""
        return SearchEngine(self._inner, self._limits, self._own_bases, self._clauses)

    def search_engine(self, resource_type: str, criteria: Iterable[tuple[str, str]] = ()) -> SearchEngine:
        """The engine for a search of `resource_type` (a search, `$everything`, the criteria of a conditional
        write): 403 first unless the token may search the type at all, and 403 for a patient-context token
        whose `criteria` name another patient (SMART Imaging Access: never an empty Bundle)."""
        self.require("search", resource_type)
        if other_patients_named(self._access, resource_type, criteria):
            self._deny(
                "search",
                resource_type,
                None,
                f"This access token is for one patient; the {resource_type} search names another",
            )
        return self.engine

    def for_interaction(self, interaction: Interaction) -> SecuredStore:
        """The same caller doing another interaction (each batch entry by its route in the route table)."""
        return self._rebind(self._inner, interaction)

    def _rebind(
        self, repository: ResourceStore, interaction: Interaction, audit: AuditSink | None = None
    ) -> SecuredStore:
        return SecuredStore(
            repository,
            self._access,
            audit or self._audit,
            limits=self._limits,
            own_bases=self._own_bases,
            interaction=interaction,
            address=self._address,
            clauses=self._clauses,
        )

    # -- decisions --------------------------------------------------------------------------------------

    def may(self, action: Action, resource_type: str, resource: JsonObject | None = None) -> bool:
        """May the caller do `action` on this resource (None: on some resource of the type)?"""
        return policy.decide(self._access, action, resource_type, resource)

    def visible(self, resource_type: str, resource: JsonObject) -> bool:
        return self.may("read", resource_type, resource)

    def require(self, action: Action, resource_type: str) -> None:
        """403 unless some scope grants `action` on the type at all: decided by the token alone."""
        if not self.may(action, resource_type):
            self._deny(
                action,
                resource_type,
                None,
                f"The access token's scopes do not allow {action} on {resource_type}",
            )

    def unrestricted(self, action: Action, resource_type: str) -> bool:
        return policy.unconfined(self._access, action, resource_type)

    # -- reads --------------------------------------------------------------------------------------------

    def read(self, resource_type: str, resource_id: str) -> ResourceVersion | None:
        """The current version (possibly a deletion), or None when it never existed or the caller may not
        see it: the two are indistinguishable."""
        action = _WRITE_ACTIONS.get(self._interaction, "read")
        self.require(action, resource_type)
        version = self._inner.read(resource_type, resource_id)
        if version is None:
            return None
        content = self._content(version)
        if content is None:
            return version if self.unrestricted("read", resource_type) else None
        if not self.may(action, resource_type, content):
            if action != "read" and self.visible(resource_type, content):
                self._deny(
                    action,
                    resource_type,
                    content,
                    f"The access token's scopes do not allow {action} on {version.reference}",
                )
            self._record_denial(
                resource_type,
                content,
                f"The access token's scopes do not allow {action} on {version.reference} "
                "(answered as absent)",
            )
            return None
        if action == "read" and self._interaction not in _AUDITED_ELSEWHERE and version.resource is not None:
            self._audited([version])
        return version

    def vread(self, resource_type: str, resource_id: str, version: int) -> ResourceVersion | None:
        current = self.for_interaction("vread").read(resource_type, resource_id)
        if current is None:
            return None
        found = self._inner.vread(resource_type, resource_id, version)
        if found is None:
            return None
        content = self._content(found)
        if content is not None and not self.visible(resource_type, content):
            return None
        if found.resource is not None:
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
                self.require("search", t)
                if not self.unrestricted("search", t):
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
        if resource_id is not None and resource_type is not None:
            # The caller sees the versions it may read; the rest of the resource's past is not theirs.
            entries = [
                v for v in page.entries if v.resource is None or self.visible(resource_type, v.resource)
            ]
            page = HistoryPage(entries, page.next_cursor, page.total - (len(page.entries) - len(entries)))
        self._audited(page.entries)
        return page

    def find_ids(self, resource_type: str, query_string: str) -> list[str]:
        """Ids of resources matching `Type?query` that the caller may search (conditional references,
        `ifNoneExist`)."""
        return matching_ids(self.search_engine(resource_type), resource_type, query_string)

    # -- writes -------------------------------------------------------------------------------------------

    def create(self, resource: JsonObject, resource_id: str | None = None) -> ResourceVersion:
        resource_type = resource["resourceType"]
        self._check_content("create", resource_type, resource)
        version = self._inner.create(resource, resource_id)
        self._audited([version])
        return version

    def update(
        self, resource: JsonObject, *, expected_version: int | None, method: Method = "PUT"
    ) -> tuple[ResourceVersion, bool]:
        resource_type, resource_id = resource["resourceType"], resource["id"]
        self._check_content("update", resource_type, resource)
        current = self._rebind(self._inner, "update").read(resource_type, resource_id)
        if current is None:
            self._check_update_as_create(resource_type, resource_id)
        version, created = self._inner.update(resource, expected_version=expected_version, method=method)
        self._audited([version], previous=current)
        return version, created

    def _check_update_as_create(self, resource_type: str, resource_id: str) -> None:
        # Only a caller that sees every resource of the type may create by id: for anyone else "absent"
        # and "there but not yours" must look the same, and only one of them could be created.
        if not (
            self.unrestricted("create", resource_type)
            and self.unrestricted("read", resource_type)
            and self.unrestricted("update", resource_type)
        ):
            raise FhirError(
                Problem.NOT_FOUND,
                f"{resource_type}/{resource_id} does not exist (this token can create {resource_type} "
                "resources with POST only)",
            )
        if resource_id.startswith(SERVER_OWNED_ID_PREFIX):
            self._deny(
                "create",
                resource_type,
                None,
                f"Ids starting with '{SERVER_OWNED_ID_PREFIX}' are assigned by the server's DICOM sync; "
                "create the resource with POST or another id",
            )

    def delete(
        self, resource_type: str, resource_id: str, *, expected_version: int | None = None
    ) -> ResourceVersion | None:
        current = self._rebind(self._inner, "delete").read(resource_type, resource_id)
        if current is None:
            return None
        version = self._inner.delete(resource_type, resource_id, expected_version=expected_version)
        if version is not None:
            self._audited([version], previous=current)
        return version

    @contextmanager
    def transaction(self) -> Iterator[SecuredStore]:
        # Audit what the transaction did only once it has committed; its denials are recorded either way.
        deferred = _DeferredAudit()
        try:
            with self._inner.transaction() as tx:
                yield self._rebind(tx, self._interaction, deferred)
        except BaseException:
            deferred.flush(self._audit, only_denials=True)
            raise
        deferred.flush(self._audit)

    # -- helpers ------------------------------------------------------------------------------------------

    def _content(self, version: ResourceVersion) -> JsonObject | None:
        """What decides access to a version: its content, or for a deletion the last content it had."""
        if version.resource is not None:
            return version.resource
        if version.version > 1:
            previous = self._inner.vread(version.resource_type, version.id, version.version - 1)
            if previous is not None:
                return previous.resource
        return None

    def _check_content(self, action: Action, resource_type: str, resource: JsonObject) -> None:
        self.require(action, resource_type)
        if not self.may(action, resource_type, resource):
            self._deny(
                action,
                resource_type,
                resource,
                f"The access token's scopes do not allow {action} of this {resource_type} "
                "(its compartment or its values are outside the token's scopes)",
            )

    def _deny(self, action: Action, resource_type: str, resource: JsonObject | None, message: str) -> None:
        self._record_denial(resource_type, resource, message)
        raise FhirError(
            Problem.FORBIDDEN,
            message,
            headers={
                "WWW-Authenticate": f'Bearer error="insufficient_scope", error_description="{message[:200]}"'
            },
        )

    def _record_denial(self, resource_type: str, resource: JsonObject | None, message: str) -> None:
        # Also for what is answered as absent: the caller learns nothing, the audit trail does.
        patient = patient_of(resource_type, resource, self._access.base_url) if resource else None
        reference = f"{resource_type}/{resource['id']}" if resource and resource.get("id") else resource_type
        self._record("denied", (reference,), (patient,) if patient else (), message)

    def showing(self) -> Shown:
        """For a search or operation: the last check on every resource it is about to show, collecting
        them for one AuditEvent."""
        return Shown(self)

    def audit_shown(self, resources: list[tuple[str, JsonObject]], description: str | None = None) -> None:
        """One AuditEvent for patient data a search or operation showed."""
        touched = [(t, r) for t, r in resources if is_patient_data(t) and r.get("id")]
        if not touched:
            return
        base = self._access.base_url
        self._record(
            "rest",
            tuple(dict.fromkeys(f"{t}/{r['id']}" for t, r in touched)),
            tuple(sorted({p for t, r in touched if (p := patient_of(t, r, base))})),
            description,
            subtype="search-type" if self._interaction == "search" else self._interaction,
        )

    def _audited(self, versions: list[ResourceVersion], previous: ResourceVersion | None = None) -> None:
        """One AuditEvent per request for the patient data it touched (who, what, when)."""
        touched = [v for v in versions if is_patient_data(v.resource_type)]
        if not touched:
            return
        base = self._access.base_url
        patients = {patient_of(v.resource_type, v.resource, base) for v in touched if v.resource is not None}
        if previous is not None and previous.resource is not None:
            patients.add(patient_of(previous.resource_type, previous.resource, base))
        self._record(
            "rest",
            tuple(dict.fromkeys(v.reference for v in touched)),
            tuple(sorted(p for p in patients if p)),
        )

    def _record(
        self,
        category: Literal["rest", "denied"],
        entities: tuple[str, ...],
        patients: tuple[str, ...],
        description: str | None = None,
        *,
        subtype: str | None = None,
    ) -> None:
        """One AuditEvent by this caller for this interaction: a success, or a denial (outcome 4)."""
        self._audit.record(
            AuditRecord(
                category=category,
                subtype=subtype or self._interaction,
                action=_ACTION_CODES.get(self._interaction, "R"),
                outcome="4" if category == "denied" else "0",
                who=self._who,
                entities=entities,
                patients=patients,
                description=description,
            )
        )


class _DeferredAudit:
    """Holds a transaction's audit records until it commits (an aborted write was never an access)."""

    def __init__(self) -> None:
        self._records: list[AuditRecord] = []

    def record(self, record: AuditRecord) -> None:
        self._records.append(record)

    def flush(self, audit: AuditSink, *, only_denials: bool = False) -> None:
        for record in self._records:
            if not only_denials or record.category == "denied":
                audit.record(record)
        self._records.clear()


class Shown:
    def __init__(self, store: SecuredStore) -> None:
        self._store = store
        self._shown: list[tuple[str, JsonObject]] = []

    def visible(self, resource_type: str, resource: JsonObject) -> bool:
        # The engine's queries already carry the caller's access; this re-check costs nothing and holds
        # if a query path ever forgets it.
        allowed = self._store.visible(resource_type, resource)
        if allowed:
            self._shown.append((resource_type, resource))
        return allowed

    def record(self, description: str | None = None) -> None:
        self._store.audit_shown(self._shown, description)


def store_for(
    state: Any,
    access: AccessContext,
    interaction: Interaction = "read",
    address: str | None = None,
    request_base: str | None = None,
) -> SecuredStore:
    """A store for `access` outside a request's own token (an SHL manifest acting with its creator's
    access). `state` is the app's state (services and auth)."""
    services = state.services
    settings = services.settings
    bases = tuple(
        b.rstrip("/") for b in (request_base or access.base_url, settings.public_base_url or "") if b
    )
    return SecuredStore(
        services.repository,
        access,
        state.auth.audit,
        limits=SearchLimits.of(settings),
        own_bases=bases,
        interaction=interaction,
        address=address,
    )


def secured(request: HTTPConnection, interaction: Interaction = "read") -> SecuredStore:
    """The store for this request: bound to its verified access token (set by the one bearer check), or a
    401 when there is none — a route that was not authenticated gets no data (default deny)."""
    address = request.client.host if request.client else None
    return store_for(request.app.state, access_of(request), interaction, address)
