"""Storage-level errors: what callers outside `fhir_server.storage` catch instead of driver exceptions."""

from __future__ import annotations


class StorageError(Exception):
    """The database refused or failed an operation (the driver's error is the `__cause__`)."""


class DuplicateKey(StorageError):
    """An insert or upsert hit a unique index: another writer stored the same key first."""


class TransactionConflict(StorageError):
    """A multi-document transaction was aborted by a concurrent one; retrying the whole unit may succeed."""


class DatabaseUnavailable(StorageError):
    """The database did not answer (readiness checks report it; the driver's text stays in the log)."""
