"""What the processes we start on behalf of the server (embedded database, local Orthanc) have in common:
they listen on a free loopback port and die with the process that started them."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess

_PR_SET_PDEATHSIG = 1


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def die_with_parent() -> None:
    """`preexec_fn`: SIGKILL the child when its parent dies, and keep it out of the terminal's process group
    (a Ctrl-C meant for the server must not reach the child before the server has stopped using it).

    SIGKILL, not SIGTERM: measured, secantusd's SIGTERM handler can hang in its shutdown when the client
    side is gone, leaving an orphan that blocks the next start. Every acknowledged write is journaled, so an
    abrupt stop loses nothing (tests/storage/test_embedded_db.py kills it that way on purpose).
    """
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    os.setpgrp()


def stop(process: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """Terminate, and kill if it does not exit in time."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
