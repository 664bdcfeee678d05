"""The asyncio Redis client the site's own Redis work shares: rate counting
(chat/limits.py), leases (chat/chatkit/leases.py) and turn logs (chat/chatkit/broadcast.py).

A client belongs to the event loop it was made on, so there is one per loop (and per
`REDIS_URL`, which tests point at Redis servers of their own). Channels' layer and
Django's cache keep clients of their own.
"""

import asyncio
import weakref
from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:
    from redis.asyncio import Redis

# Short: with Redis down a request answers 503 at once, and with Redis frozen a turn's
# end (which waits for its last published batch and its lease release) is not held.
TIMEOUT_SECONDS = 2

_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Redis]]" = (
    weakref.WeakKeyDictionary()
)


def loop_client() -> "Redis":
    """The client of `REDIS_URL` for the running event loop; replies decoded to `str`."""
    from redis.asyncio import Redis

    by_url = _clients.setdefault(asyncio.get_running_loop(), {})
    url = settings.REDIS_URL
    if url not in by_url:
        by_url[url] = Redis.from_url(
            url,
            decode_responses=True,
            socket_timeout=TIMEOUT_SECONDS,
            socket_connect_timeout=TIMEOUT_SECONDS,
        )
    return by_url[url]
