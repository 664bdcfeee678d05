"""Tasks that belong to the worker, not to the request that happened to start them."""

import asyncio
import contextvars
from collections.abc import Callable, Coroutine
from typing import Any


def detached(coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task:
    """Run `coroutine` in a task outside the caller's context: nothing of the request (its
    thread-sensitive executor, its context variables) lives on with it."""
    return asyncio.get_running_loop().create_task(coroutine, context=contextvars.Context())


class ProcessTask:
    """One task per process doing `work`, started when first needed and again if it ended."""

    def __init__(self, work: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        self.work = work
        self.task: asyncio.Task | None = None

    def ensure_running(self) -> None:
        if self.task is None or self.task.done():
            self.task = detached(self.work())
