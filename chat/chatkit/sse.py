"""Server-sent events for the ChatKit stream: keepalives, cancellation, and failures."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable

from chatkit.types import ErrorEvent
from django.utils.translation import gettext

logger = logging.getLogger(__name__)

KEEPALIVE = b": keepalive\n\n"
_END = object()

# The event streams this process is writing, each as a future done when it ends: at
# shutdown, once the turns have ended, their streams are given a moment to write the last
# events (chat/chatkit/turns.py `shut_down`).
OPEN_STREAMS: set[asyncio.Future] = set()


def error_event(message: str) -> bytes:
    event = ErrorEvent(code="custom", message=message, allow_retry=True)
    return b"data: " + event.model_dump_json().encode() + b"\n\n"


def answer_failed_event() -> bytes:
    """The error event of an answer that failed for a reason of the site's own, in the
    language of the request that asked for it."""
    return error_event(gettext("Something went wrong while answering. Please retry."))


async def sse_stream(
    events: AsyncIterable[bytes],
    keepalive_seconds: float,
    on_close: Callable[[str], Awaitable[None]] | None = None,
) -> AsyncIterator[bytes]:
    """Relay `events`, sending a keepalive comment after `keepalive_seconds` of silence.

    The source is iterated by one producer task for its whole life: the SDK sets and
    resets context variables around the stream, which must happen in the same context.
    When the client disconnects, Django cancels this generator; the producer is then
    cancelled and awaited, so ChatKit's cancellation handler can save the partial answer
    before the request finishes. The queue is unbounded and filled with `put_nowait` so
    the producer only ever waits inside the SDK's stream: that is where the cancellation
    must land for the SDK to see it. `on_close` runs last with how the stream ended:
    "complete", "error" or "cancelled".
    """
    queue: asyncio.Queue[object] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    last_put = loop.time()

    def put(chunk: object) -> None:
        nonlocal last_put
        last_put = loop.time()
        queue.put_nowait(chunk)

    async def produce() -> None:
        try:
            async for chunk in events:
                put(chunk)
        except Exception as error:
            put(error)
        else:
            put(_END)

    # One timer for the stream's silences, not one per event: when it fires, it sends a
    # keepalive if nothing was queued for `keepalive_seconds`, and looks again then.
    def keep_alive() -> None:
        nonlocal watchdog
        due = last_put + keepalive_seconds
        if loop.time() >= due:
            put(KEEPALIVE)
            due = last_put + keepalive_seconds
        watchdog = loop.call_at(due, keep_alive)

    producer = asyncio.create_task(produce())
    watchdog = loop.call_at(last_put + keepalive_seconds, keep_alive)
    outcome = "cancelled"
    ended = loop.create_future()
    OPEN_STREAMS.add(ended)
    try:
        while True:
            # Queue.get never loses a cancel (on Python 3.11, `asyncio.wait_for` can
            # return the item instead of raising, and the stream would run on after the
            # client left).
            chunk = await queue.get()
            if chunk is _END:
                outcome = "complete"
                return
            if isinstance(chunk, Exception):
                outcome = "error"
                logger.error("ChatKit stream failed", exc_info=chunk)
                yield answer_failed_event()
                return
            yield chunk
    finally:
        OPEN_STREAMS.discard(ended)
        ended.set_result(outcome)
        watchdog.cancel()
        if not producer.done():
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await producer
        if on_close is not None:
            await on_close(outcome)
