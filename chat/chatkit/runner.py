"""The turn runner: one answer as a job of its own, not a property of an HTTP request.

A `TurnRunner` drives the ChatKit server's stream for one streaming request to its end in
its own task, whether or not anyone is listening. It keeps the turn's events (the SSE
chunks, numbered) so subscribers can join late and replay them; with Redis it publishes
them to other workers (chat/chatkit/broadcast.py). It holds the thread's turn lease and a
user stream slot, renewed by the process's heartbeat, and records the turn in the
database (`chat.models.Turn`), so a dead worker's turn is closed as interrupted by
whoever sweeps next (chat/chatkit/recovery.py).

Only an explicit stop (`stop_turn`), or shutdown past its grace period, cancels a runner:
the SDK's cancellation path then stores the partial answer.
"""

import asyncio
import contextlib
import functools
import logging
import os
import socket
import time
from collections.abc import AsyncIterator
from datetime import timedelta

from channels.layers import get_channel_layer
from chatkit.server import StreamingResult
from chatkit.types import ChatKitReq
from django.utils import timezone, translation
from redis.exceptions import RedisError

from chat import models
from chat.chatkit import broadcast, recovery, turn_writes
from chat.chatkit.leases import leases
from chat.chatkit.requestlog import RequestLog
from chat.chatkit.server import SiteChatKitServer
from chat.chatkit.sse import answer_failed_event
from chat.chatkit.tasks import ProcessTask, detached
from chat.conf import app_settings
from chat.context import RequestContext
from chatsite import db, observability

logger = logging.getLogger(__name__)

WORKER = f"{socket.gethostname()}:{os.getpid()}"
# How often buffered events go out to other workers: one Redis round trip per batch.
PUBLISH_EVERY = 0.05
# How often a batched follower (a client's event stream) is written to while events come
# fast: what arrives within this window goes out as one write, one trip through Django,
# daphne and the socket instead of one per token (15-20% of a turn's CPU in `make
# bench`). The first event after a pause goes out at once, so nothing waits longer than
# this; 20 ms is below what a reader can notice, about one screen refresh.
WRITE_EVERY = 0.02

# The runners of this process, by thread id: one turn per thread at a time.
RUNNERS: dict[str, "TurnRunner"] = {}
# Every runner task of this process until it is done. A runner leaves RUNNERS as soon as
# its turn is released, before it has recorded and published its end: shutdown waits for
# these.
TASKS: set[asyncio.Task] = set()


class TurnRunner:
    def __init__(
        self,
        server: SiteChatKitServer,
        request: ChatKitReq,
        context: RequestContext,
        *,
        thread_id: str,
        turn_id: str,
        kind: str,
        log: RequestLog,
        thread_exists: bool,
    ) -> None:
        self.server = server
        self.request = request  # parsed once, by the view
        self.context = context
        self.thread_id = thread_id
        self.turn_id = turn_id
        self.kind = kind
        self.log = log
        self.thread_exists = thread_exists
        self.chunks: list[bytes] = []
        self.changed = asyncio.Condition()
        self.finished = False
        self.outcome = "running"
        self.stop_requested = False
        # Set once the user's message is stored (or the turn ended without one).
        self.started = asyncio.Event()
        self.task: asyncio.Task | None = None
        self.unpublished: list[list] = []
        self.publishing = True  # until `finish`: see publish_forever
        self.publisher_asleep = False
        self.first_token_at: float | None = None  # for chat_time_to_first_token_seconds
        # What the turn says to the user (errors, notices) is in the request's language.
        self.language = translation.get_language()

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Run in a task of its own, outside the request's context: its database work goes
        through the pool (chatsite/db.py), and nothing of the request (its thread, its
        context) lives on with the turn."""
        RUNNERS[self.thread_id] = self
        self.task = detached(self.run())
        TASKS.add(self.task)
        self.task.add_done_callback(TASKS.discard)
        heartbeat.ensure_running()

    async def run(self) -> None:
        # This task's own context (see `start`): the language holds for this turn only.
        translation.activate(self.language)
        publisher = None
        listener = None
        try:
            if broadcast.spans_workers() and await self.begin_log():
                publisher = asyncio.create_task(self.publish_forever())
                listener = asyncio.create_task(self.listen_for_stop())
            if self.thread_exists:
                await self.record_start()
            result = await self.server.process(self.request, self.context)
            assert isinstance(result, StreamingResult)
            async for chunk in result:
                if not self.thread_exists:  # threads.create: the SDK just saved the thread
                    self.thread_exists = True
                    await self.record_start()
                await self.emit(chunk)
                if b'"type":"stream_options"' in chunk:
                    self.started.set()
            self.outcome = "complete"
        except asyncio.CancelledError:
            self.outcome = "stopped" if self.stop_requested else "interrupted"
            if (task := asyncio.current_task()) is not None:
                task.uncancel()
        except Exception:
            self.outcome = "failed"
            logger.exception("Turn %s in thread %s failed", self.turn_id, self.thread_id)
            await self.emit(answer_failed_event())
        finally:
            await self.finish(publisher, listener)

    async def begin_log(self) -> bool:
        """Start the turn's log for other workers; False when Redis is unreachable and
        CHAT_LIMITS_FAIL_OPEN lets the turn run anyway, for this worker's clients only."""
        try:
            await broadcast.turn_log().begin(self.thread_id)
        except (RedisError, OSError):
            if not app_settings.LIMITS_FAIL_OPEN:
                raise
            logger.warning("Turn %s not shared with other workers: Redis unavailable", self.turn_id)
            return False
        return True

    async def finish(self, publisher: asyncio.Task | None, listener: asyncio.Task | None) -> None:
        """Release and record the turn, then end its subscribers' streams: a client that
        reads to the end can send its next message at once."""
        if listener is not None:
            listener.cancel()
        if publisher is not None:
            self.publishing = False
            if self.publisher_asleep:
                publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await publisher
        RUNNERS.pop(self.thread_id, None)
        try:
            await leases().release(self.thread_id, self.context.user_id, self.turn_id)
            if self.thread_exists:
                await self.record_end()
        except Exception:
            logger.exception("Could not record the end of turn %s", self.turn_id)
        self.started.set()
        async with self.changed:
            self.finished = True
            self.changed.notify_all()
        if publisher is not None:
            self.unpublished.append([self.turn_id, len(self.chunks), None])
            with contextlib.suppress(Exception):
                await self.flush()
        self.log.emit(f"200/{self.outcome}")
        observability.record_turn(
            self.outcome,
            time.monotonic() - self.log.started,
            None if self.first_token_at is None else self.first_token_at - self.log.started,
            (self.log.usage.input_tokens, self.log.usage.output_tokens),
        )

    # --- events ----------------------------------------------------------------------------

    async def emit(self, chunk: bytes) -> None:
        if self.first_token_at is None and b"text_delta" in chunk:
            self.first_token_at = time.monotonic()
        async with self.changed:
            self.chunks.append(chunk)
            self.changed.notify_all()
        if broadcast.spans_workers():
            self.unpublished.append([self.turn_id, len(self.chunks) - 1, chunk.decode()])

    async def follow(self, batched: bool = False) -> AsyncIterator[bytes]:
        """Every chunk of the turn from the first, then the live ones until it ends;
        `batched`: what arrived since the last piece, as one piece, at most one piece
        every WRITE_EVERY seconds (one write of a server-sent event stream instead of
        one per event)."""
        index = 0
        loop = asyncio.get_running_loop()
        next_piece_at = 0.0
        while True:
            async with self.changed:
                await self.changed.wait_for(functools.partial(self.has_news, index))
            if batched and not self.finished:
                if (wait := next_piece_at - loop.time()) > 0:
                    await asyncio.sleep(wait)
                next_piece_at = loop.time() + WRITE_EVERY
            batch = self.chunks[index:]
            if batched and batch:
                yield b"".join(batch)
            else:
                for chunk in batch:
                    yield chunk
            index += len(batch)
            if self.finished and index >= len(self.chunks):
                return

    def has_news(self, index: int) -> bool:
        return index < len(self.chunks) or self.finished

    async def flush(self) -> None:
        if self.unpublished:
            batch, self.unpublished = self.unpublished, []
            await broadcast.publish(self.thread_id, batch)

    async def publish_forever(self) -> None:
        """Publish what is new every PUBLISH_EVERY seconds until `finish` says stop.

        Cancelled only while it sleeps: a cancellation landing inside a Redis call can be
        swallowed by the client, and the task would then loop (and `finish` wait) for ever;
        it would also lose the batch in flight. Mid-publish, it ends after the batch."""
        while self.publishing:
            self.publisher_asleep = True
            try:
                await asyncio.sleep(PUBLISH_EVERY)
            finally:
                self.publisher_asleep = False
            try:
                await self.flush()
            except Exception:  # Redis hiccup: the local subscribers still have every event
                logger.warning("Could not publish turn %s", self.turn_id, exc_info=True)

    # --- stop --------------------------------------------------------------------------------

    def stop(self) -> None:
        """Cancel the turn; the SDK keeps the partial answer and the model run is cancelled."""
        self.stop_requested = True
        if self.task is not None and not self.task.done():
            self.task.cancel()

    async def listen_for_stop(self) -> None:
        """Stop requests that reach another worker come to this one through the layer."""
        layer = get_channel_layer()
        channel = await layer.new_channel()
        group = broadcast.control_group(self.thread_id)
        await layer.group_add(group, channel)
        try:
            while True:
                message = await layer.receive(channel)
                if message.get("type") == "turn.stop":
                    self.stop()
                    return
        finally:
            await layer.group_discard(group, channel)

    # --- the database record -----------------------------------------------------------------

    async def record_start(self) -> None:
        # Before the user's message is stored: the note on an answer cut off by a lost
        # worker must come first.
        # (Known not to be needed when loading the thread found no turn running.)
        if self.context.memo.turn_left_running.get(self.thread_id, True):
            if await recovery.close_turns_left_in(self.thread_id, self.turn_id):
                # Its note joined the thread: the history read with it is out of date.
                self.server.store.items_changed(self.thread_id, self.context)
        now = timezone.now()
        await db.run(turn_writes.insert, models.Turn, {
            "id": self.turn_id,
            "user_id": self.context.user_id,
            "thread_id": self.thread_id,
            "kind": self.kind,
            "worker": WORKER,
            "started_at": now,
            "lease_expires_at": now + timedelta(seconds=app_settings.TURN_LEASE_SECONDS),
        })
        await broadcast.notify_user(
            self.context.user_id,
            {"type": "turn.started", "thread_id": self.thread_id, "turn_id": self.turn_id},
        )

    async def record_end(self) -> None:
        state = {
            "complete": models.Turn.State.COMPLETE,
            "stopped": models.Turn.State.STOPPED,
            "interrupted": models.Turn.State.INTERRUPTED,
        }.get(self.outcome, models.Turn.State.FAILED)
        await db.run(turn_writes.update, models.Turn, self.turn_id, {
            "state": state,
            "finished_at": timezone.now(),
            **self.context.usage.turn_fields(),
        })
        await broadcast.notify_user(
            self.context.user_id,
            {
                "type": "turn.finished",
                "thread_id": self.thread_id,
                "turn_id": self.turn_id,
                "state": str(state),
            },
        )


async def beat() -> None:
    """Keep every local runner's leases alive while any runs: the Redis (or local) leases
    in one round, the database leases in one UPDATE."""
    ttl = app_settings.TURN_LEASE_SECONDS
    while RUNNERS:
        await asyncio.sleep(ttl / 3)
        runners = list(RUNNERS.values())
        try:
            for runner in runners:
                await leases().renew(runner.thread_id, runner.context.user_id, runner.turn_id, ttl)
            running = models.Turn.objects.filter(
                pk__in=[runner.turn_id for runner in runners],
                state=models.Turn.State.RUNNING,
            )
            await db.run(running.update, lease_expires_at=timezone.now() + timedelta(seconds=ttl))
        except Exception:
            logger.warning("Heartbeat failed; retrying", exc_info=True)


heartbeat = ProcessTask(beat)
