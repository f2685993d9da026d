"""The storage interface: every resource version of every type, behind protocols.

Interactions talk only to `Repository`; the server's own store is a `ResourceStore` (a repository with
transactions and the version documents the search engine reads); `fhir_server.storage.mongo` implements
both over pymongo. Versions
are numbered 1, 2, 3… per resource; the repository assigns `meta.versionId` and `meta.lastUpdated` and keeps
the rest of `meta` as the client sent it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from fhir_server.type_aliases import Document, JsonObject

Method = Literal["POST", "PUT", "PATCH", "DELETE"]

# Precomputed, normalized search values of a resource: {parameter name: [values]} (see fhir_server.search).
IndexValues = Callable[[JsonObject], Mapping[str, Sequence[Any]]]


@dataclass(frozen=True)
class ResourceVersion:
    resource_type: str
    id: str
    version: int
    last_updated: datetime
    deleted: bool
    method: Method
    resource: JsonObject | None  # None for a deletion
    # `resource` serialized as compact JSON, when the store has it at hand (a read by id, a write): served as
    # the response body as it is. Whoever builds a version with another resource leaves it None.
    json: bytes | None = field(default=None, compare=False, repr=False)

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'

    @property
    def reference(self) -> str:
        return f"{self.resource_type}/{self.id}"


@dataclass(frozen=True)
class HistoryCursor:
    """Position after the last entry of a page: newest first, ties broken by type then storage key."""

    last_updated: datetime
    resource_type: str
    key: str


@dataclass(frozen=True)
class HistoryPage:
    entries: list[ResourceVersion]
    next_cursor: HistoryCursor | None
    total: int


class VersionConflict(Exception):
    """The resource changed since the version the caller expected (or another writer won the race)."""

    def __init__(self, current_version: int | None) -> None:
        super().__init__(f"current version is {current_version}")
        self.current_version = current_version


class Repository(Protocol):
    """What interactions may do with resources. Both `MongoRepository` and the per-request `SecuredStore`
    (`fhir_server.security.access.store`) satisfy it; set-up such as creating indexes is the concrete store's
    own."""

    def create(self, resource: JsonObject, resource_id: str | None = None) -> ResourceVersion:
        """Store a new resource under a server-assigned id (or one the server chose beforehand)."""
        ...

    def read(self, resource_type: str, resource_id: str) -> ResourceVersion | None:
        """The latest version (possibly a deletion), or None if the id never existed."""
        ...

    def vread(self, resource_type: str, resource_id: str, version: int) -> ResourceVersion | None: ...

    def update(
        self, resource: JsonObject, *, expected_version: int | None, method: Method = "PUT"
    ) -> tuple[ResourceVersion, bool]:
        """Write a new version (creating the resource if absent when `expected_version` is None).

        Returns the stored version and whether it was created. Raises VersionConflict when
        `expected_version` is not the current version, or when a concurrent writer got there first.
        """
        ...

    def delete(
        self, resource_type: str, resource_id: str, *, expected_version: int | None = None
    ) -> ResourceVersion | None:
        """Record a deletion; None if there was nothing to delete (absent or already deleted)."""
        ...

    def history(
        self,
        *,
        resource_type: str | None,
        resource_id: str | None,
        since: datetime | None,
        count: int,
        cursor: HistoryCursor | None,
    ) -> HistoryPage: ...


class VersionReader(Protocol):
    """Queries on the version documents of one type (shape in `fhir_server.storage.mongo`)."""

    def find(
        self, filter: Mapping[str, Any], projection: Mapping[str, Any] | None = None, *, limit: int = 0
    ) -> Iterable[Document]: ...


class SearchBackend(Protocol):
    """What the search engine reads: a type's version documents, queried on their precomputed search keys
    (`MongoRepository` for the FHIR types, the audit log for AuditEvent)."""

    def collection(self, resource_type: str) -> VersionReader: ...


class ResourceStore(Repository, SearchBackend, Protocol):
    """The server's own store: a repository, searchable, with multi-document transactions."""

    def transaction(self) -> AbstractContextManager[ResourceStore]:
        """A store whose reads and writes all belong to one transaction (committed when the block ends).
        Raises TransactionsUnsupported on a standalone database; TransactionConflict when a concurrent
        transaction aborted this one."""
        ...


class TransactionsUnsupported(RuntimeError):
    """The database is a standalone server: multi-document transactions are not available."""
