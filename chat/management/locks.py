"""One run at a time: a lock that holds across processes and hosts, and never goes stale.

PostgreSQL: a session-level advisory lock (visible to every host using the database,
released by the server if the process dies). SQLite: an `flock` on a file beside the
database (SQLite databases live on one host anyway).
"""

import fcntl
import hashlib
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import DatabaseError, connections

logger = logging.getLogger(__name__)

class AlreadyRunning(Exception):
    """Another process holds the lock."""


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for PostgreSQL's advisory locks."""
    digest = hashlib.blake2b(f"chatsite:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextmanager
def advisory_lock(using: str, name: str, wait: bool = False) -> Iterator[None]:
    """A PostgreSQL session-level advisory lock: held by this connection across the
    batches' transactions, visible to every host using the database, and released by the
    server if the process dies, so it never goes stale. Without `wait`, AlreadyRunning
    when another session holds it."""
    connection = connections[using]
    key = advisory_key(name)
    with connection.cursor() as cursor:
        if wait:
            cursor.execute("SELECT pg_advisory_lock(%s)", [key])
        else:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
            if not cursor.fetchone()[0]:
                raise AlreadyRunning(
                    f"another {name} run is in progress (PostgreSQL advisory lock)"
                )
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
        except DatabaseError:
            # The connection is gone, and the server released the lock with it.
            logger.warning("Could not release the %s lock; the connection was lost", name)


def lock_file_path(using: str, name: str) -> Path:
    """Next to the SQLite database file (the only place every process using that database
    can see), else in the temporary directory."""
    connection = connections[using]
    database = str(connection.settings_dict.get("NAME") or "")
    in_memory = getattr(connection, "is_in_memory_db", lambda: True)()
    if connection.vendor == "sqlite" and database and not in_memory:
        return Path(f"{database}.{name}.lock")
    return Path(tempfile.gettempdir()) / f"chatsite-{name}.lock"


@contextmanager
def file_lock(path: Path, name: str, wait: bool = False) -> Iterator[None]:
    """An exclusive `flock` on a file: released by the kernel when the process exits, so
    it never goes stale. The file itself stays; removing it would race with a waiter.
    Without `wait`, AlreadyRunning when another process holds it."""
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AlreadyRunning(f"another {name} run is in progress (lock file {path})") from None
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"{os.getpid()}\n".encode())
        try:
            yield
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)


@contextmanager
def exclusive(name: str, using: str = "default", wait: bool = False) -> Iterator[None]:
    """Run the block only if no other process is inside `exclusive(name)`; raise
    AlreadyRunning otherwise, or with `wait` wait for it (for work every starter needs
    done once, such as migrations: the later ones find nothing left to do). PostgreSQL: an
    advisory lock (works across hosts). SQLite: a lock file beside the database (SQLite
    databases live on one host anyway)."""
    if connections[using].vendor == "postgresql":
        with advisory_lock(using, name, wait):
            yield
    else:
        with file_lock(lock_file_path(using, name), name, wait):
            yield
