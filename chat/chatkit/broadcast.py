"""Carrying events over the Channels layer: a running answer to other workers, and
per-user notices ("thread updated", "turn finished") to every open tab.

A running turn's events are numbered. With Redis, the runner appends them in batches to a
list (the turn's log, kept a short while after the turn ends) and sends each batch to the
thread's group; a subscriber on another worker joins the group first, then reads the log,
then follows the group, skipping what it already has and re-reading the log if the layer
dropped a batch (a full channel). So it gets every event once, in order. Without Redis
there is one process: subscribers follow the runner's buffer directly (chat/chatkit/runner.py).
"""

import asyncio
import json
import re
import weakref
from collections.abc import AsyncIterator
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings
from django.utils.translation import gettext, gettext_noop

from chat.chatkit.leases import leases
from chat.chatkit.sse import error_event
from chat.conf import app_settings
from chatsite import redis_client

# How long a finished turn's log stays readable, for a subscriber that arrives at the end.
LOG_KEEP_SECONDS = 120
LOST_TURN = gettext_noop(
    "The server answering this stopped before the answer was finished. The answer so far "
    "is kept; please send your message again."
)
UNSAFE = re.compile(r"[^a-zA-Z0-9_.-]")


def thread_group(thread_id: str) -> str:
    return f"chat.thread.{UNSAFE.sub('-', thread_id)}"[:99]


def control_group(thread_id: str) -> str:
    return f"chat.control.{UNSAFE.sub('-', thread_id)}"[:99]


def user_group(user_id: Any) -> str:
    return f"chat.user.{UNSAFE.sub('-', str(user_id))}"[:99]


def spans_workers() -> bool:
    """Whether other workers can see this one's events (a Redis channel layer)."""
    return bool(getattr(settings, "REDIS_URL", ""))


async def notify_user(user_id: Any, event: dict[str, Any]) -> None:
    """Tell every open tab of the user (the websocket consumer) that something changed."""
    layer = get_channel_layer()
    if layer is not None:
        await layer.group_send(user_group(user_id), {"type": "chat.event", "event": event})


# --- the turn's log in Redis -------------------------------------------------------------


class TurnLog:
    """A thread's current turn as numbered SSE chunks in a Redis list: `[turn, seq, chunk]`,
    chunk `null` for the end."""

    def __init__(self) -> None:
        self.redis = redis_client.loop_client()

    @staticmethod
    def key(thread_id: str) -> str:
        return f"{settings.CACHES['default'].get('KEY_PREFIX', '')}chat:turnlog:{thread_id}"

    async def begin(self, thread_id: str) -> None:
        await self.redis.delete(self.key(thread_id))

    async def append(self, thread_id: str, entries: list[list[Any]]) -> None:
        key = self.key(thread_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.rpush(key, *(json.dumps(entry) for entry in entries))
            pipe.expire(key, LOG_KEEP_SECONDS)
            await pipe.execute()

    async def read(self, thread_id: str) -> list[list[Any]]:
        return [json.loads(entry) for entry in await self.redis.lrange(self.key(thread_id), 0, -1)]


_logs: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, TurnLog]" = (
    weakref.WeakKeyDictionary()
)


def turn_log() -> TurnLog:
    loop = asyncio.get_running_loop()
    if loop not in _logs:
        _logs[loop] = TurnLog()
    return _logs[loop]


async def publish(thread_id: str, entries: list[list[Any]]) -> None:
    """Make a batch of `[turn, seq, chunk]` entries visible to subscribers on any worker."""
    await turn_log().append(thread_id, entries)
    layer = get_channel_layer()
    await layer.group_send(thread_group(thread_id), {"type": "turn.events", "entries": entries})


async def follow_remote(thread_id: str) -> AsyncIterator[bytes]:
    """The SSE chunks of the thread's current turn so far, then the live ones, from another
    worker's runner; nothing if no turn is logged.

    A worker that dies mid-answer publishes no end: when the turn goes quiet and its lease
    is no longer held, twice in a row (a turn that ends normally releases its lease just
    before it publishes its end), the stream ends with an error event instead of waiting
    for ever.
    """
    quiet = app_settings.TURN_LEASE_SECONDS / 2
    layer = get_channel_layer()
    channel = await layer.new_channel()
    group = thread_group(thread_id)
    await layer.group_add(group, channel)
    try:
        entries = await turn_log().read(thread_id)
        if not entries:
            return
        turn, seen, unheld = entries[0][0], -1, 0
        while True:
            for entry_turn, seq, chunk in entries:
                if entry_turn != turn or seq <= seen:
                    continue
                if seq > seen + 1:  # the layer dropped a batch: the log has it
                    entries = await turn_log().read(thread_id)
                    break
                seen = seq
                if chunk is None:
                    return
                yield chunk.encode()
            else:
                try:
                    async with asyncio.timeout(quiet):
                        message = await layer.receive(channel)
                except TimeoutError:
                    held = await leases().thread_holder(thread_id) == turn
                    unheld = 0 if held else unheld + 1
                    if unheld >= 2:
                        yield error_event(gettext(LOST_TURN))
                        return
                    entries = await turn_log().read(thread_id)  # in case the end was missed
                else:
                    entries, unheld = message.get("entries", []), 0
    finally:
        await layer.group_discard(group, channel)
