"""Values kept in Django's cache in front of the database, for the pool's threads.

The cache is a help, never a dependency: a value it does not hold, or a cache that is
down, means reading the database (and, when the cache answers again, keeping what was
read). Synchronous on purpose: callers run on the database pool's threads
(chatsite/db.py), and Django's async cache methods would add a thread hop of their own.
"""

import logging
from collections.abc import Callable
from typing import TypeVar

from django.core.cache import cache

logger = logging.getLogger(__name__)

T = TypeVar("T")


def read_through(key: str, load: Callable[[], T], seconds: int) -> T:
    """The value under `key`; else `load()`, kept under `key` for `seconds`."""
    try:
        found = cache.get(key)
    except Exception:
        logger.warning("Could not read %s from the cache", key, exc_info=True)
        return load()
    if found is None:
        found = load()
        try:
            cache.set(key, found, seconds)
        except Exception:
            pass  # read from the database next time too
    return found
