"""The current-version cache (`fhir_server.storage.version_cache`, `change_feed`) on the real database.

Two repositories with their own change feeds stand for two server processes on one database (the running
test server, whose feed is live too, is a third); raw pymongo writes stand for another program writing to
the database directly. No timing assertions: changes made outside a repository are awaited by polling
until a deadline.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from pymongo import monitoring

from fhir_server.resource_types import MODELS
from fhir_server.search.index import SearchIndexer
from fhir_server.settings import Settings
from fhir_server.storage.change_feed import VersionFeed
from fhir_server.storage.connection import DatabaseConnection, connect
from fhir_server.storage.memory_only import NeedsDatabase, memory_only
from fhir_server.storage.mongo import MongoRepository
from fhir_server.storage.repository import ResourceVersion
from fhir_server.storage.version_cache import ENTRY_OVERHEAD, CachedVersion, VersionCache
from tests.server_process import RunningServer

DEADLINE = 15.0


class Commands(monitoring.CommandListener):
    """Database commands on resource collections sent while `recording` (feed traffic excluded)."""

    def __init__(self) -> None:
        self.recording = False
        self.seen: list[tuple[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if not self.recording or event.command_name in ("getMore", "killCursors", "endSessions"):
            return
        target = event.command.get(event.command_name)
        if target in MODELS:
            self.seen.append((event.command_name, target))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


COMMANDS = Commands()
monitoring.register(COMMANDS)


@pytest.fixture(scope="module")
def connection(server: RunningServer) -> Iterator[DatabaseConnection]:
    conn = connect(Settings(data_dir=server.data_dir), "cli")
    yield conn
    conn.close()


def _repository(connection: DatabaseConnection, entries: int = 1000, size: int = 10**7) -> MongoRepository:
    return MongoRepository(
        connection, list(MODELS), SearchIndexer().index_values, cache_entries=entries, cache_bytes=size
    )


@pytest.fixture(scope="module")
def worker_a(connection: DatabaseConnection) -> Iterator[MongoRepository]:
    repository = _repository(connection)
    yield repository
    repository.close()


@pytest.fixture(scope="module")
def worker_b(connection: DatabaseConnection) -> Iterator[MongoRepository]:
    repository = _repository(connection)
    yield repository
    repository.close()


@pytest.fixture(scope="module")
def trusted(worker_a: MongoRepository, worker_b: MongoRepository) -> tuple[MongoRepository, MongoRepository]:
    for repository in (worker_a, worker_b):
        assert repository.feed is not None and repository.feed.wait_trusted(DEADLINE)
    return worker_a, worker_b


def _patient(**fields: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", **fields}


def _eventually(check: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return check()


def _current(repository: MongoRepository, resource_id: str) -> ResourceVersion:
    version = repository.read("Patient", resource_id)
    assert version is not None
    return version


def test_a_cached_read_by_id_asks_the_database_nothing(
    trusted: tuple[MongoRepository, MongoRepository],
) -> None:
    a, b = trusted
    created = a.create(_patient(gender="male"))
    first = _current(b, created.id)  # filled by this read
    COMMANDS.seen.clear()
    COMMANDS.recording = True
    try:
        again = _current(b, created.id)
    finally:
        COMMANDS.recording = False
    assert COMMANDS.seen == []
    assert again == first and again.resource == created.resource
    assert again.json == orjson.dumps(created.resource)
    # Each hit parses its own copy: changing it changes nothing cached.
    assert again.resource is not None
    again.resource["gender"] = "changed"
    assert _current(b, created.id).resource == created.resource


def test_memory_only_answers_cached_reads_and_refuses_every_round_trip(
    trusted: tuple[MongoRepository, MongoRepository], connection: DatabaseConnection
) -> None:
    """What the HTTP adapter relies on to answer a read on the event loop: inside `memory_only()` a cached
    read is answered, and anything that would reach the database raises before it does."""
    a, b = trusted
    created = a.create(_patient(gender="female"))
    cached = _current(b, created.id)
    never_read = a.create(_patient(gender="male"))
    COMMANDS.seen.clear()
    COMMANDS.recording = True
    try:
        with memory_only():
            assert _current(b, created.id) == cached
            assert b.vread("Patient", created.id, 1) == cached
            refused = [
                lambda: b.read("Patient", never_read.id),  # not cached in b: a round trip
                lambda: b.vread("Patient", created.id, 2),
                lambda: b.create(_patient()),
                lambda: b.update({**created.resource, "gender": "other"}, expected_version=None),
                lambda: b.delete("Patient", created.id),
                lambda: b.history(
                    resource_type="Patient", resource_id=None, since=None, count=9, cursor=None
                ),
                lambda: b.collection("Patient"),
                lambda: connection.documents.collection("audit_events").find_one({}),
            ]
            for call in refused:
                with pytest.raises(NeedsDatabase):
                    call()
    finally:
        COMMANDS.recording = False
    assert COMMANDS.seen == []  # nothing reached the database
    assert _current(b, never_read.id).id == never_read.id  # outside the block, the same calls work


def test_a_write_in_one_worker_is_read_at_once_in_the_other(
    trusted: tuple[MongoRepository, MongoRepository],
) -> None:
    a, b = trusted
    created = a.create(_patient(gender="male"))
    assert _current(b, created.id).version == 1  # B caches version 1
    for n in range(2, 22):
        writer, reader = (a, b) if n % 2 else (b, a)
        written, _ = writer.update(
            _patient(id=created.id, gender="female" if n % 2 else "male"), expected_version=None
        )
        got = _current(reader, created.id)
        assert (got.version, got.resource) == (written.version, written.resource)


def test_a_deletion_is_gone_in_every_worker_at_once(trusted: tuple[MongoRepository, MongoRepository]) -> None:
    a, b = trusted
    created = a.create(_patient(gender="male"))
    assert not _current(a, created.id).deleted and not _current(b, created.id).deleted
    deleted = a.delete("Patient", created.id)
    assert deleted is not None
    for repository in (a, b):
        got = _current(repository, created.id)
        assert got.deleted and got.version == deleted.version and got.resource is None


def test_a_transaction_is_read_at_once_in_the_other_worker(
    trusted: tuple[MongoRepository, MongoRepository],
) -> None:
    a, b = trusted
    created = a.create(_patient(gender="male"))
    assert _current(b, created.id).version == 1
    with a.transaction() as bound:
        bound.update(_patient(id=created.id, gender="female"), expected_version=1)
        other = bound.create(_patient(gender="other"))
    assert _current(b, created.id).version == 2
    assert _current(b, other.id).resource == other.resource


def test_writes_made_directly_to_the_database_invalidate(
    connection: DatabaseConnection, trusted: tuple[MongoRepository, MongoRepository]
) -> None:
    a, b = trusted
    created = a.create(_patient(gender="male"))
    assert _current(b, created.id).version == 1
    patients = connection.db.get_collection("Patient")
    # Another program edits the stored version in place (no new version number).
    patients.update_one({"_id": f"{created.id}/1"}, {"$set": {"res.gender": "female"}})
    assert _eventually(lambda: (_current(b, created.id).resource or {}).get("gender") == "female")
    # …then writes a version 2 itself, as an importer would.
    resource = {**(created.resource or {}), "gender": "other", "meta": {"versionId": "2"}}
    patients.insert_one(
        {"_id": f"{created.id}/2", "id": created.id, "v": 2, "cur": True, "ts": created.last_updated}
        | {"del": False, "m": "PUT", "res": resource}
    )
    assert _eventually(lambda: _current(b, created.id).version == 2)
    assert _current(a, created.id).resource == resource
    # …and removes every version: the resource never existed.
    patients.delete_many({"id": created.id})
    assert _eventually(
        lambda: b.read("Patient", created.id) is None and a.read("Patient", created.id) is None
    )


def test_vread_of_a_non_current_version_goes_to_the_database(
    trusted: tuple[MongoRepository, MongoRepository],
) -> None:
    a, b = trusted
    created = a.create(_patient(gender="male"))
    a.update(_patient(id=created.id, gender="female"), expected_version=1)
    _current(b, created.id)
    COMMANDS.seen.clear()
    COMMANDS.recording = True
    try:
        old = b.vread("Patient", created.id, 1)
        current = b.vread("Patient", created.id, 2)
    finally:
        COMMANDS.recording = False
    assert old is not None and old.resource == created.resource
    assert current is not None and current.version == 2
    assert COMMANDS.seen == [("find", "Patient")]  # version 1 only


def test_the_cache_disabled_gives_the_same_answers(
    connection: DatabaseConnection, trusted: tuple[MongoRepository, MongoRepository]
) -> None:
    a, _ = trusted
    plain = MongoRepository(connection, list(MODELS), SearchIndexer().index_values, cache_entries=0)
    assert plain.cache is None and plain.feed is None
    created = a.create(_patient(gender="male"))
    a.update(_patient(id=created.id, gender="female"), expected_version=1)
    cached = _current(a, created.id)
    direct = _current(plain, created.id)
    assert (direct.version, direct.resource, direct.last_updated) == (
        cached.version,
        cached.resource,
        cached.last_updated,
    )
    plain_written, _ = plain.update(_patient(id=created.id, gender="other"), expected_version=2)
    # A write through a repository without a feed (a CLI command) is not waited for: its event arrives soon.
    assert plain_written.version == 3 and _eventually(lambda: _current(a, created.id).version == 3)
    a.delete("Patient", created.id)
    assert _current(plain, created.id).deleted


def test_the_bound_holds_in_entries_and_bytes(connection: DatabaseConnection) -> None:
    small = _repository(connection, entries=5, size=10**7)
    try:
        assert small.feed is not None and small.feed.wait_open(DEADLINE)
        ids = [small.create(_patient(gender="male")).id for _ in range(12)]
        for resource_id in ids:
            _current(small, resource_id)
        assert small.cache is not None and len(small.cache) <= 5
    finally:
        small.close()
    bytes_bound = 4 * (ENTRY_OVERHEAD + 200)
    tight = _repository(connection, entries=1000, size=bytes_bound)
    try:
        assert tight.feed is not None and tight.feed.wait_open(DEADLINE)
        filler = "x" * 150
        ids = [tight.create(_patient(gender="male", language=filler)).id for _ in range(12)]
        for resource_id in ids:
            assert (_current(tight, resource_id).resource or {}).get("language") == filler
        assert tight.cache is not None and 0 < len(tight.cache) < 12 and tight.cache.bytes <= bytes_bound
    finally:
        tight.close()


def test_the_lru_keeps_the_newest_and_never_moves_back() -> None:
    cache = VersionCache(max_entries=2, max_bytes=10**6)

    def entry(version: int, body: bytes = b"{}") -> CachedVersion:
        return CachedVersion(version, None, False, "PUT", body, time.monotonic())  # type: ignore[arg-type]

    cache.put("Patient", "a", entry(1), cache.mark())
    cache.put("Patient", "b", entry(1), cache.mark())
    assert cache.get("Patient", "a") is not None  # a is now the most recent
    cache.put("Patient", "c", entry(1), cache.mark())
    assert cache.get("Patient", "b") is None and len(cache) == 2
    cache.put("Patient", "a", entry(3), cache.mark())
    cache.put("Patient", "a", entry(2), cache.mark())  # a slower reader's older version
    found = cache.get("Patient", "a")
    assert found is not None and found.version == 3
    cache.discard("Patient", "a", up_to_version=2)  # an event about version 2: not the one kept
    assert cache.get("Patient", "a") is not None
    # A fill that read version 3 before an event declared it stale is refused; one that read after is kept.
    before = cache.mark()
    cache.discard("Patient", "r", up_to_version=3)  # the event of version 4
    cache.put("Patient", "r", entry(3), before)
    assert cache.get("Patient", "r") is None
    cache.put("Patient", "r", entry(4), before)  # version 4 itself is not stale
    assert cache.get("Patient", "r") is not None
    cache.clear()
    cache.put("Patient", "r", entry(5), before)  # started before a clear: unknown, refused
    assert cache.get("Patient", "r") is None
    cache.put("Patient", "huge", entry(1, b"x" * 10**6), cache.mark())  # larger than the bound: not kept
    assert cache.get("Patient", "huge") is None and cache.bytes <= 10**6


def test_a_failed_feed_bypasses_and_empties_the_cache(connection: DatabaseConnection) -> None:
    repository = _repository(connection)
    try:
        assert repository.feed is not None and repository.cache is not None
        assert repository.feed.wait_open(DEADLINE)
        created = repository.create(_patient(gender="male"))
        _current(repository, created.id)
        assert len(repository.cache) >= 1
        repository.feed.apply({"operationType": "invalidate"})  # anything unexpected: forget everything
        assert len(repository.cache) == 0
        repository.close()  # the feed stops: reads go to the database, and stay right
        assert repository.feed.read_mode() is None
        assert _current(repository, created.id).version == 1 and len(repository.cache) == 0
    finally:
        repository.close()


def test_a_feed_of_a_database_without_change_streams_serves_checked_entries_for_the_ttl(
    connection: DatabaseConnection,
) -> None:
    cache = VersionCache(10, 10**6)
    feed = VersionFeed(connection.db, ["Patient"], cache, ttl_seconds=0.5)
    feed._state = "ttl"  # what the feed becomes when the database refuses to open a change stream
    mode = feed.read_mode()
    assert mode is not None and mode.check and mode.ttl == 0.5


def test_a_stream_that_ends_is_reopened_with_an_empty_cache(server: RunningServer) -> None:
    """Dropping the database ends every change stream on it (an invalidate event): the feed empties the
    cache, bypasses it while down, and opens a new stream."""
    settings = Settings(data_dir=server.data_dir, database_name=f"vc_{uuid.uuid4().hex[:8]}")
    own = connect(settings, "cli")
    repository = MongoRepository(
        own, list(MODELS), SearchIndexer().index_values, cache_entries=100, cache_bytes=10**6
    )
    try:
        feed, cache = repository.feed, repository.cache
        assert feed is not None and cache is not None and feed.wait_open(DEADLINE)
        created = repository.create(_patient(gender="male"))
        _current(repository, created.id)
        assert len(cache) == 1
        opened = feed.opened_count
        own.client.drop_database(settings.database_name)
        assert _eventually(lambda: feed.opened_count > opened and feed.state == "watching")
        assert len(cache) == 0 and repository.read("Patient", created.id) is None
        again = repository.create(_patient(gender="female"))
        assert _current(repository, again.id).resource == again.resource
    finally:
        repository.close()
        own.client.drop_database(settings.database_name)
        own.close()
