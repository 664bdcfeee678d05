"""The endpoint's turn lifecycle: from a parsed, authenticated request to its answer.

A request is authorised before anything streams (the SDK would only find a missing
thread after the 200), then takes what an answer needs while it streams (a stream slot,
the thread's turn, and for new messages the rate limit and token quota), then runs
through the ChatKit server. The limits are released when the answer ends, however it
ends, or at once for a JSON answer.
"""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack

from chatkit.server import NonStreamingResult, StreamingResult
from chatkit.types import ChatKitReq, is_streaming_req

from chat.chatkit.requests import authorize_request
from chat.chatkit.server import SiteChatKitServer
from chat.chatkit.sse import sse_stream
from chat.conf import app_settings
from chat.context import RequestContext
from chat.limits import check_message_rate, check_token_quota, stream_slot, thread_turn

# Requests that send the model a new message: rate-limited and counted against the quota.
MESSAGE_TYPES = {"threads.create", "threads.add_user_message", "threads.retry_after_item"}


async def enter_limits(
    guards: AsyncExitStack, request: ChatKitReq, context: RequestContext
) -> None:
    """Hold what an answer needs while it streams: a stream slot, and the thread's turn.

    New messages also count against the rate limit and the daily token quota.
    """
    if not is_streaming_req(request):
        return
    user_id = context.user_id
    if request.type in MESSAGE_TYPES:
        await check_token_quota(user_id)
        await check_message_rate(user_id)
    await guards.enter_async_context(stream_slot(user_id))
    thread_id = getattr(request.params, "thread_id", None)
    if thread_id:
        await guards.enter_async_context(thread_turn(thread_id))


async def run_request(
    server: SiteChatKitServer,
    request: ChatKitReq,
    body: bytes,
    context: RequestContext,
    on_close: Callable[[str], Awaitable[None]],
) -> NonStreamingResult | AsyncIterator[bytes]:
    """The JSON answer, or the server-sent events of the streamed one.

    `on_close` runs once a stream has ended, with how it ended ("complete", "error",
    "cancelled"); raises `ChatError` or `NotFoundError` for a request refused up front.
    """
    await authorize_request(request, server.store, context)
    guards = AsyncExitStack()
    try:
        await enter_limits(guards, request, context)
        result = await server.process(body, context)
    except BaseException:
        await guards.aclose()
        raise
    if not isinstance(result, StreamingResult):
        await guards.aclose()
        return result

    async def closed(outcome: str) -> None:
        await guards.aclose()
        await on_close(outcome)

    return sse_stream(result, app_settings.KEEPALIVE_SECONDS, closed)
