"""Counting the queries a piece of async code makes, on whatever thread runs them.

The store, the views and running turns hand their database work to the pool of
chatsite/db.py, so Django's per-connection query capture in the test's own thread sees
none of it. Here every connection opened inside the block is instrumented; the pool's
connections are closed first so that they reopen inside it.
"""

import contextlib
from collections.abc import Iterator

from django.db.backends.signals import connection_created

from chatsite import db


@contextlib.contextmanager
def queries_on_every_thread() -> Iterator[list[str]]:
    """The SQL of every query any thread runs inside the block."""
    captured: list[str] = []
    recording = True

    def record(execute, sql, params, many, context):
        if recording:
            captured.append(sql)
        return execute(sql, params, many, context)

    def instrument(sender, connection, **kwargs):
        if record not in connection.execute_wrappers:  # a reconnection keeps its wrappers
            connection.execute_wrappers.append(record)

    db.close_connections()
    connection_created.connect(instrument)
    try:
        yield captured
    finally:
        recording = False
        connection_created.disconnect(instrument)
        db.close_connections()
