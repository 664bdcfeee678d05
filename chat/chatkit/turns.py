"""The endpoint's turn lifecycle: start a turn, follow it, stop it, resume it.

A streaming request is authorised before anything streams (the SDK would only find a
missing thread after the 200), counted against the user's limits, and handed to a
`TurnRunner` holding a user stream slot and the thread's turn. The response is the turn's
first subscriber: it returns once the user's message is stored, so a client that hangs
up right away loses nothing, and the answer goes on without it. Other clients resume the
turn (`follow_turn`) on any worker; only `stop_turn` stops it.
"""

import asyncio
import dataclasses
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable

from channels.layers import get_channel_layer
from chatkit.server import NonStreamingResult
from chatkit.types import ChatKitReq, is_streaming_req
from django.utils.translation import gettext, ngettext
from redis.exceptions import RedisError

from chat.chatkit import broadcast
from chat.chatkit.leases import leases
from chat.chatkit.requestlog import RequestLog
from chat.chatkit.requests import authorize_request
from chat.chatkit.runner import RUNNERS, TASKS, TurnRunner
from chat.chatkit.server import SiteChatKitServer, title_from
from chat.chatkit.sse import OPEN_STREAMS, sse_stream
from chat.conf import app_settings
from chat.context import RequestContext
from chat.errors import LimitExceeded, Restarting, Unavailable
from chat.limits import UserLimits, check_message_rate, check_token_quota, limits_for
from chat.models import LimitRefusal
from chatsite import db

logger = logging.getLogger(__name__)

# Requests that send the model a new message: rate-limited and counted against the quota.
MESSAGE_TYPES = {"threads.create", "threads.add_user_message", "threads.retry_after_item"}
# Requests that may run the model without a new message: counted against the quota only.
CONTINUATION_TYPES = {
    "threads.add_client_tool_output",
    "threads.add_structured_input",
    "threads.custom_action",
}
# How long a stop request waits for the turn to wind down (its partial answer stored).
STOP_WAIT_SECONDS = 5.0


class Admission:
    """Whether this process takes new turns: not once it has been told to shut down."""

    open = True


admission = Admission()


async def run_request(
    server: SiteChatKitServer,
    request: ChatKitReq,
    context: RequestContext,
    log: RequestLog,
) -> NonStreamingResult | AsyncIterator[bytes]:
    """The JSON answer, or the server-sent events of the turn the request starts.

    Raises `ChatError` or `NotFoundError` for a request refused up front. A streamed turn
    writes the request's log line when it ends.
    """
    if request.type == "threads.add_user_message":
        # The turn's history comes with the thread the request is authorised by.
        context.memo.items_with_thread = app_settings.HISTORY_ITEMS
    await authorize_request(request, server.store, context)
    if request.type == "threads.delete":
        # The conversation's answer stops with it, on whichever worker runs it, rather
        # than running on (and paying the model) with nowhere left to store its words.
        await stop_turn(request.params.thread_id)
    if not is_streaming_req(request):
        return await server.process(request, context)
    runner = await start_turn(server, request, context, log)
    await runner.started.wait()

    async def closed(outcome: str) -> None:
        if outcome == "cancelled" and not app_settings.CONTINUE_AFTER_DISCONNECT:
            runner.stop()
            if runner.task is not None:  # the partial answer is stored when this returns
                await asyncio.wait({runner.task}, timeout=STOP_WAIT_SECONDS)

    return sse_stream(runner.follow(batched=True), app_settings.KEEPALIVE_SECONDS, closed)


async def start_turn(
    server: SiteChatKitServer,
    request: ChatKitReq,
    context: RequestContext,
    log: RequestLog,
) -> TurnRunner:
    """Take the user's stream slot and the thread's turn, then start the runner."""
    if not admission.open:
        raise Restarting()
    limits = await limits_for(context.user_id)
    quota = limits.daily_tokens
    if request.type in MESSAGE_TYPES:
        await counted(LimitRefusal.Limit.TOKENS, context, check_token_quota(context.user_id, quota))
        await counted(
            LimitRefusal.Limit.RATE, context, check_message_rate(context.user_id, limits.rate)
        )
    elif request.type in CONTINUATION_TYPES:
        await counted(LimitRefusal.Limit.TOKENS, context, check_token_quota(context.user_id, quota))
    thread_id = getattr(request.params, "thread_id", None)
    thread_exists = thread_id is not None
    if not thread_exists:
        # Chosen up front so the turn can hold its lease before the SDK saves the thread.
        thread_id = server.store.generate_thread_id(context)
        title = title_from(request.params.input, app_settings.TITLE_MAX_CHARS)
        context = dataclasses.replace(context, new_thread_id=thread_id, new_thread_title=title)
    log.thread_id = thread_id
    turn_id = f"turn_{uuid.uuid4().hex}"
    try:
        await counted(None, context, take_leases(thread_id, context.user_id, turn_id, limits))
    except (RedisError, OSError) as error:
        if not app_settings.LIMITS_FAIL_OPEN:
            logger.error("Redis unavailable for the turn's leases: %s", error)
            raise Unavailable() from error
        logger.warning("Turn %s runs without leases, Redis unavailable: %s", turn_id, error)
    if quota and request.type in MESSAGE_TYPES | CONTINUATION_TYPES:
        try:  # again, now that the user's previous answer is counted
            await counted(
                LimitRefusal.Limit.TOKENS, context, check_token_quota(context.user_id, quota)
            )
        except LimitExceeded:
            await leases().release(thread_id, context.user_id, turn_id)
            raise
    runner = TurnRunner(
        server,
        request,
        context,
        thread_id=thread_id,
        turn_id=turn_id,
        kind=request.type,
        log=log,
        thread_exists=thread_exists,
    )
    runner.start()
    return runner


async def counted(limit: str | None, context: RequestContext, check: Awaitable) -> None:
    """Await a limit check; a refusal (429) is recorded for the insights page, then
    raised. `limit` None: the refusal says which limit it was (`refused.limit`)."""
    try:
        await check
    except LimitExceeded as refused:
        which = limit or getattr(refused, "limit", "") or LimitRefusal.Limit.STREAMS
        await db.run(LimitRefusal.objects.create, user_id=context.user_id, limit=which)
        raise


async def take_leases(
    thread_id: str, user_id: object, turn_id: str, limits: UserLimits | None = None
) -> None:
    """A stream slot at once (429 when all are taken), then the thread's turn, waiting up
    to CHAT_TURN_WAIT_SECONDS for the answer before it: messages to one thread are
    answered one after the other.

    Under a daily token quota the user's answers take one slot, waiting for it like for
    the thread's turn: the quota is checked again once the previous answer is counted,
    so it is passed by one answer at most.
    """
    ttl = app_settings.TURN_LEASE_SECONDS
    limit = app_settings.MAX_CONCURRENT_STREAMS if limits is None else limits.max_streams
    store = leases()
    deadline = time.monotonic() + app_settings.TURN_WAIT_SECONDS
    if limits is not None and limits.daily_tokens:
        while not await store.take_slot(user_id, turn_id, 1, ttl):
            if time.monotonic() > deadline:
                refused = LimitExceeded(
                    gettext("Your previous answer is still running. Please wait."), 5
                )
                refused.limit = LimitRefusal.Limit.STREAMS
                raise refused
            await asyncio.sleep(0.05)
    elif not await store.take_slot(user_id, turn_id, limit, ttl):
        refused = LimitExceeded(
            ngettext(
                "At most %(count)d answer can stream at once. Please wait.",
                "At most %(count)d answers can stream at once. Please wait.",
                limit,
            ) % {"count": limit},
            5,
        )
        refused.limit = LimitRefusal.Limit.STREAMS
        raise refused
    while not await store.lock_thread(thread_id, turn_id, ttl):
        if time.monotonic() > deadline:
            await store.release(thread_id, user_id, turn_id)
            refused = LimitExceeded(
                gettext("Another answer in this conversation is still running. Please wait."), 5
            )
            refused.limit = LimitRefusal.Limit.THREAD
            raise refused
        await asyncio.sleep(0.05)


async def follow_turn(thread_id: str, batched: bool = False) -> AsyncIterator[bytes] | None:
    """The running turn's events so far, then the live ones; None when no turn runs.
    `batched`: several events per piece, for a stream of bytes (`TurnRunner.follow`)."""
    runner = RUNNERS.get(thread_id)
    if runner is not None:
        return runner.follow(batched)
    if broadcast.spans_workers() and await leases().thread_holder(thread_id):
        return broadcast.follow_remote(thread_id)
    return None


async def stop_turn(thread_id: str) -> bool:
    """Stop the thread's running turn on whichever worker runs it, and wait (a few seconds
    at most) until its partial answer is stored; False when no turn was running."""
    runner = RUNNERS.get(thread_id)
    if runner is not None:
        runner.stop()
        if runner.task is not None:
            await asyncio.wait({runner.task}, timeout=STOP_WAIT_SECONDS)
        return True
    if not (broadcast.spans_workers() and await leases().thread_holder(thread_id)):
        return False
    await get_channel_layer().group_send(broadcast.control_group(thread_id), {"type": "turn.stop"})
    deadline = time.monotonic() + STOP_WAIT_SECONDS
    while time.monotonic() < deadline:
        if not await leases().thread_holder(thread_id):
            break
        await asyncio.sleep(0.05)
    return True


async def shut_down(grace: float) -> None:
    """Take no new turns, let running ones finish for `grace` seconds, then stop the rest
    (their partial answers are stored, their turns marked interrupted, leases released)."""
    admission.open = False
    if TASKS:
        await asyncio.wait(set(TASKS), timeout=grace)
    for runner in list(RUNNERS.values()):
        if runner.task is not None and not runner.task.done():
            runner.task.cancel()
    # Including the runners already past their release: they still record, publish the
    # end to other workers' followers and log their line.
    if TASKS:
        await asyncio.wait(set(TASKS), timeout=STOP_WAIT_SECONDS)
    # Their clients' streams write what is left (a piece every WRITE_EVERY at most).
    if OPEN_STREAMS:
        await asyncio.wait(set(OPEN_STREAMS), timeout=STOP_WAIT_SECONDS)
