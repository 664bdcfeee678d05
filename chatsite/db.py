"""The bounded pool of threads that async code's database work goes through.

Django's async ORM runs each query through `sync_to_async` on the request's own thread,
which keeps a database connection for the request's whole life: a stream open for
minutes would hold a thread and a connection, and a burst of requests would open one
connection each. Here the work of async views and running turns is handed, one function
at a time, to a fixed pool of CHAT_DB_POOL_SIZE threads, so a worker never holds more
connections than that however many streams are open, and never starts a thread per
request. SQLite gets one thread: it takes one writer at a time anyway, and one thread
never meets "database is locked" from another.
"""

import asyncio
import functools
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any, TypeVar

from asgiref.sync import ThreadSensitiveContext
from django.db import DatabaseError, connections
from django.utils import translation

T = TypeVar("T")

_pool: ThreadPoolExecutor | None = None
_size = 0
_release_after_each_job = False


def pool() -> ThreadPoolExecutor:
    global _pool, _size, _release_after_each_job
    if _pool is None:
        _release_after_each_job = uses_connection_pool()
        from chat.conf import app_settings

        size = app_settings.DB_POOL_SIZE
        if connections["default"].vendor == "sqlite":
            size = 1
        _pool, _size = ThreadPoolExecutor(max_workers=size, thread_name_prefix="db"), size
    return _pool


def uses_connection_pool() -> bool:
    """Whether the database is PostgreSQL with Django's psycopg pool (chatsite/settings.py)."""
    return bool(connections["default"].settings_dict.get("OPTIONS", {}).get("pool"))


def call(function: Callable[..., T], args: tuple, kwargs: dict, language: str | None) -> T:
    try:
        with translation.override(language, deactivate=True):
            return function(*args, **kwargs)
    except DatabaseError:
        # A connection that failed (the server restarted, the network dropped) is not
        # handed to the next job: this thread reconnects on its next query.
        connections.close_all()
        raise
    finally:
        if _release_after_each_job:
            # Back to the psycopg pool, for the worker's other threads (sync views) too.
            connections["default"].close()


async def run(function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """`function(*args, **kwargs)` on a pool thread, awaited, in the caller's language:
    what it says to the user (a refusal, a notice) is in the request's language, as it
    would be on the request's own thread. (The active language is per thread; asgiref
    carries it only through its own `sync_to_async`.)"""
    loop = asyncio.get_running_loop()
    job = functools.partial(call, function, args, kwargs, translation.get_language())
    return await loop.run_in_executor(pool(), job)


def close_connections() -> None:
    """Close the database connections of every pool thread (tests, before dropping the
    test database). Each thread takes one job; a barrier keeps two off the same thread."""
    if _pool is None:
        return
    barrier = threading.Barrier(_size)

    def close() -> None:
        connections.close_all()
        barrier.wait(timeout=10)

    for future in [_pool.submit(close) for _ in range(_size)]:
        future.result(timeout=15)


def pooled(function: Callable[..., T]) -> Callable[..., Awaitable[T]]:
    """Decorate a function of sync ORM code: calling it runs it as one job on the pool."""

    @functools.wraps(function)
    async def run_pooled(*args: Any, **kwargs: Any) -> T:
        return await run(function, *args, **kwargs)

    return run_pooled


class InlineExecutor(Executor):
    """Runs each call at once, in the calling thread (here: the event loop's)."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:  # handed to the awaiting coroutine, as a thread would
            future.set_exception(error)
        return future


class EndpointOnLoop:
    """ASGI middleware: the ChatKit endpoint's thread-sensitive sync work on the loop.

    In an async view, Django still runs every sync-style middleware's `process_request`
    and `process_response` and the request signals' receivers through `sync_to_async`:
    a hop to a thread each, and a thread started (and another to join it) per request to
    take them. For the endpoint they are all cheap and touch no
    database (Bearer auth, no session used; its database work goes through the pool
    above), so an outer `ThreadSensitiveContext` with an executor of its own (asgiref's
    documented use) runs them in place. Should one of them ever query the database, Django
    refuses it on the loop thread (SynchronousOnlyOperation) rather than blocking it.
    It wraps the endpoint's own handler only (chatsite/asgi.py): views that parse uploads
    keep their threads.
    """

    def __init__(self, app: Callable) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> Any:
        async with ThreadSensitiveContext(executor=InlineExecutor()):
            return await self.app(scope, receive, send)
