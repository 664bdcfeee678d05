"""Server-sent events for the ChatKit stream: keepalives, cancellation, and failures."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable

from chatkit.types import ErrorEvent

logger = logging.getLogger(__name__)

KEEPALIVE = b": keepalive\n\n"
_END = object()


def error_event(message: str) -> bytes:
    event = ErrorEvent(code="custom", message=message, allow_retry=True)
    return b"data: " + event.model_dump_json().encode() + b"\n\n"


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

    async def produce() -> None:
        try:
            async for chunk in events:
                queue.put_nowait(chunk)
        except Exception as error:
            queue.put_nowait(error)
        else:
            queue.put_nowait(_END)

    producer = asyncio.create_task(produce())
    outcome = "cancelled"
    try:
        while True:
            try:
                # Not `asyncio.wait_for`: on Python 3.11 it returns the result instead of
                # raising when the cancel arrives as the item does, and the stream would
                # run on after the client left. Queue.get never loses a cancel.
                async with asyncio.timeout(keepalive_seconds):
                    chunk = await queue.get()
            except TimeoutError:
                yield KEEPALIVE
                continue
            if chunk is _END:
                outcome = "complete"
                return
            if isinstance(chunk, Exception):
                outcome = "error"
                logger.error("ChatKit stream failed", exc_info=chunk)
                yield error_event("Something went wrong while answering. Please retry.")
                return
            yield chunk
    finally:
        if not producer.done():
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await producer
        if on_close is not None:
            await on_close(outcome)
