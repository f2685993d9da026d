"""The embedded default database: SecantusDB (`secantusd-py`) as a child process under the data dir.

SecantusDB is GPL-2.0, so it stays a separate process that this code starts and talks to over the
MongoDB wire protocol; nothing here imports it.

One process at a time owns a data dir's database: the owner holds an exclusive `flock` on
`embedded-db.lock` and records how to reach the database in `embedded-db.json`. A CLI command that finds
the lock taken connects to the recorded address instead of starting its own (so `import`, `demo` and
friends work while a server runs); a second *server* is refused with a message naming the owner.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

import pymongo
from pymongo.errors import PyMongoError

from fhir_server.child_process import die_with_parent, free_loopback_port
from fhir_server.child_process import stop as stop_process

Role = Literal["server", "cli"]

LOCK_FILE = "embedded-db.lock"
STATE_FILE = "embedded-db.json"
STORAGE_DIR = "db"
LOG_FILE = "embedded-db.log"


class DataDirInUse(RuntimeError):
    """Another server already owns the data dir; the message says who and how to proceed."""


class EmbeddedDatabaseError(RuntimeError):
    """The embedded database could not be started or reached."""


@dataclass
class EmbeddedDatabase:
    """A handle on the data dir's database; `close()` stops it if this process started it."""

    uri: str
    owned: bool
    _process: subprocess.Popen[bytes] | None = None
    _lock: IO[str] | None = None
    _state_path: Path | None = None

    @property
    def pid(self) -> int | None:
        """The database process, when this process started it (benchmarks read its CPU time)."""
        return None if self._process is None else self._process.pid

    def close(self) -> None:
        if self._process is not None:
            stop_process(self._process)
            self._process = None
        if self._state_path is not None:
            with contextlib.suppress(FileNotFoundError):
                self._state_path.unlink()
            self._state_path = None
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None


def open_embedded(data_dir: Path, role: Role, timeout: float = 30.0) -> EmbeddedDatabase:
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = (data_dir / LOCK_FILE).open("a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        return _attach_to_owner(data_dir, role, timeout)
    try:
        return _start_owned(data_dir, role, lock, timeout)
    except BaseException:
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()
        raise


def _attach_to_owner(data_dir: Path, role: Role, timeout: float) -> EmbeddedDatabase:
    state = _read_state(data_dir, timeout)
    owner = f"{state.get('owner', 'another process')} (pid {state.get('owner_pid', '?')})"
    if role == "server":
        where = f" on port {state['http_port']}" if state.get("http_port") else ""
        raise DataDirInUse(
            f"data dir {data_dir} is already in use by {owner}{where}. "
            "Stop it first, or start this server with another --data-dir."
        )
    return EmbeddedDatabase(uri=str(state["uri"]), owned=False)


def _read_state(data_dir: Path, timeout: float) -> dict[str, object]:
    # The owner writes the state file only once its database answers; wait for that moment.
    deadline = time.monotonic() + timeout
    path = data_dir / STATE_FILE
    while True:
        with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
            state = json.loads(path.read_text())
            if isinstance(state, dict) and "uri" in state:
                return state
        if time.monotonic() > deadline:
            raise EmbeddedDatabaseError(
                f"data dir {data_dir} is locked by another process, but it published no database address "
                f"in {path} within {timeout:.0f}s"
            )
        time.sleep(0.1)


def _start_owned(data_dir: Path, role: Role, lock: IO[str], timeout: float) -> EmbeddedDatabase:
    executable = _find_secantusd()
    port = free_loopback_port()
    storage = data_dir / STORAGE_DIR
    storage.mkdir(exist_ok=True)
    log = (data_dir / LOG_FILE).open("ab")
    command = [
        executable,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--storage-path",
        str(storage),
        "--log-level",
        "WARNING",
        # Measured: without it a committed *transaction* is lost on kill -9 even with j:true
        # (single writes are not); with it, a transactional update costs about 20 % more.
        "--sync-on-commit",
        # A fresh temp config dir keeps a stray ./secantusd.toml from changing our database.
        "--config",
        str(_write_config(data_dir)),
    ]
    process = subprocess.Popen(
        command,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        preexec_fn=die_with_parent,
        cwd=data_dir,
    )
    log.close()
    uri = f"mongodb://127.0.0.1:{port}/?retryWrites=false&directConnection=true"
    try:
        _wait_until_ready(uri, process, data_dir, timeout)
    except BaseException:
        stop_process(process)
        raise
    state_path = data_dir / STATE_FILE
    state = {"uri": uri, "db_pid": process.pid, "owner": role, "owner_pid": os.getpid()}
    _write_atomically(state_path, json.dumps(state))
    return EmbeddedDatabase(uri=uri, owned=True, _process=process, _lock=lock, _state_path=state_path)


def record_http_port(data_dir: Path, port: int) -> None:
    """Let a refused second server (and the CLI) say where the running one listens."""
    path = data_dir.resolve() / STATE_FILE
    state = json.loads(path.read_text())
    state["http_port"] = port
    _write_atomically(path, json.dumps(state))


def _write_config(data_dir: Path) -> Path:
    path = data_dir / "secantusd.toml"
    if not path.exists():
        path.write_text("# Settings come from the command line of fhir_server.storage.embedded.\n")
    return path


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _find_secantusd() -> str:
    # Prefer the one installed next to our interpreter (the virtualenv), then PATH.
    beside = Path(sys.executable).parent / "secantusd-py"
    if beside.exists():
        return str(beside)
    found = shutil.which("secantusd-py")
    if found is None:
        raise EmbeddedDatabaseError(
            "secantusd-py not found: install the 'secantusdb' package or set FHIR_MONGODB_URI"
        )
    return found


def _wait_until_ready(uri: str, process: subprocess.Popen[bytes], data_dir: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(uri, serverSelectionTimeoutMS=250)
    try:
        while True:
            if process.poll() is not None:
                raise EmbeddedDatabaseError(
                    f"the embedded database exited with code {process.returncode}; see {data_dir / LOG_FILE}"
                )
            try:
                client.admin.command("ping")
                return
            except PyMongoError:
                if time.monotonic() > deadline:
                    raise EmbeddedDatabaseError(
                        f"the embedded database did not answer within {timeout:.0f}s; "
                        f"see {data_dir / LOG_FILE}"
                    ) from None
                time.sleep(0.05)
    finally:
        client.close()
