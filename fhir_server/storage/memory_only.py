"""Answering from memory only: a request that can be answered without the database (a read of a cached
current version) is answered on the event loop, without the hand-off to a worker thread that a blocking
database call needs — that hand-off cost a cached read more than everything else it did.

The HTTP adapter runs such a request inside `memory_only()`; every database round trip that storage makes
on the request path first calls `round_trip()`, which raises `NeedsDatabase` inside that block, before any
I/O. The adapter then runs the request again in a worker thread. A request that needs the database has by
then done nothing that shows (reads decide, audit and answer only after their data is read), so running it
again is safe; the repeat costs the attempt, never a wrong answer. A call that bypassed this check would only
block the event loop for one round trip: slower, never incorrect.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_MEMORY_ONLY: ContextVar[bool] = ContextVar("memory_only", default=False)


class NeedsDatabase(Exception):
    """The request needs a database round trip: run it where blocking is allowed."""


@contextmanager
def memory_only() -> Iterator[None]:
    token = _MEMORY_ONLY.set(True)
    try:
        yield
    finally:
        _MEMORY_ONLY.reset(token)


def round_trip() -> None:
    """Call before a database round trip: inside `memory_only()` it is refused."""
    if _MEMORY_ONLY.get():
        raise NeedsDatabase
