"""One agent run for one turn, as a stream of ChatKit events.

`AgentRun` connects the configured MCP servers, builds the agent, runs it on the thread's
history and relays the Agents SDK's stream as ChatKit events, fixing what the SDK leaves
to integrations: store ids for model items, a model that goes silent, provider errors in
plain words, and cancelling the model when nobody is left to read the answer. When the
events are exhausted, `usage` holds what the run used.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import openai
from agents import RunConfig, Runner, TResponseInputItem, Usage
from chatkit.agents import AgentContext, stream_agent_response
from chatkit.errors import CustomStreamError
from chatkit.types import (
    AssistantMessageItem,
    ClientToolCallItem,
    NoticeEvent,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemRemovedEvent,
    ThreadItemReplacedEvent,
    ThreadItemUpdatedEvent,
    ThreadStreamEvent,
    WorkflowItem,
)
from django.utils import timezone
from django.utils.translation import gettext

from chat.assistant.agent import agent_for
from chat.assistant.mcp import connected_mcp_servers
from chat.assistant.tool_activity import ToolActivityHooks
from chat.conf import app_settings

logger = logging.getLogger(__name__)


def provider_error_message(error: Exception) -> str:
    """Say in plain words what went wrong with the model provider."""
    if isinstance(error, openai.AuthenticationError):
        return gettext(
            "The assistant's model provider rejected its API key. Please tell the site's admin."
        )
    if isinstance(error, openai.RateLimitError):
        return gettext(
            "The assistant's model provider is busy (rate limited). Please retry in a moment."
        )
    if isinstance(error, openai.APITimeoutError):
        return gettext("The assistant's model provider took too long to answer. Please retry.")
    if isinstance(error, openai.APIConnectionError):
        return gettext("The assistant could not reach its model provider. Please retry later.")
    if isinstance(error, openai.InternalServerError):
        return gettext("The assistant's model provider had an internal error. Please retry.")
    return gettext("The assistant's model provider returned an error. Please retry.")


async def with_store_item_ids(
    events: AsyncIterator[ThreadStreamEvent],
    new_id: Callable[[], str],
) -> AsyncIterator[ThreadStreamEvent]:
    """Give each streamed assistant message (and client tool call) an id from the store.

    ChatKit reuses the model's item id as the thread item id, but chat-completions
    providers call every item `__fake_id__`: without this, each answer would overwrite the
    previous one. An id is mapped from `added` until its `done`, so a provider that reuses
    one id for several messages still gets distinct items; `removed` and `replaced` events
    (a guardrail taking an answer back) name the store id of the latest item with that
    model id, the one the client was shown.
    """
    current: dict[str, str] = {}
    latest: dict[str, str] = {}
    async for event in events:
        item = getattr(event, "item", None)
        is_answer = isinstance(item, AssistantMessageItem)
        if isinstance(event, ThreadItemAddedEvent) and is_answer:
            current[item.id] = latest[item.id] = store_id = new_id()
            event = ThreadItemAddedEvent(item=item.model_copy(update={"id": store_id}))
        elif isinstance(event, ThreadItemUpdatedEvent) and event.item_id in current:
            event = event.model_copy(update={"item_id": current[event.item_id]})
        elif isinstance(event, ThreadItemDoneEvent) and (
            is_answer or isinstance(item, ClientToolCallItem)
        ):
            store_id = current.pop(item.id, None) or new_id()
            latest[item.id] = store_id
            event = ThreadItemDoneEvent(item=item.model_copy(update={"id": store_id}))
        elif isinstance(event, ThreadItemRemovedEvent) and event.item_id in latest:
            event = ThreadItemRemovedEvent(item_id=latest[event.item_id])
        elif isinstance(event, ThreadItemReplacedEvent) and item is not None and item.id in latest:
            event = ThreadItemReplacedEvent(item=item.model_copy(update={"id": latest[item.id]}))
        yield event


def model_name(agent: Any) -> str:
    """The name of the model an agent runs on, for the turn's usage record."""
    model = agent.model
    if isinstance(model, str):
        return model
    return str(getattr(model, "model", "") or app_settings.MODEL)


class ModelSilent(Exception):
    """The model sent nothing for CHAT_MODEL_TIMEOUT seconds."""


# How long a stopped run may take to wind down its stream after `result.cancel()`.
WIND_DOWN_SECONDS = 5.0


class Pump:
    """Iterates a stream to its end in a task of its own and hands its items over a queue,
    so that whoever reads may stop at any moment (cancelled, timed out, closed) without the
    interruption landing inside the stream.

    openai-chatkit's `stream_agent_response` merges the Agents SDK stream with its own event
    queue through two bare tasks (`chatkit.agents._merge_generators`). A cancellation that
    lands while it waits on them leaves both behind: the one on the SDK stream ends with
    StopAsyncIteration once the run is cancelled ("Task exception was never retrieved"), the
    one on the queue waits forever ("Task was destroyed but it is pending!"), both logged
    as errors on every stopped answer. Ended the way the Agents SDK asks instead (cancel the
    run, keep consuming until the stream ends: `wind_down`), the merge stops cleanly.

    With `silence_seconds`, a stream that yields nothing for that long ends the reader's
    iteration with `ModelSilent` (after the items it did yield). One timer watches the
    whole stream, checking when it fires whether an item came meanwhile: a timeout per item
    would cost a timer and a context manager on every event of every answer. Only the
    stream's silence counts, never the reader's work between items.
    """

    def __init__(self, stream: AsyncIterator[Any], silence_seconds: float | None = None) -> None:
        self.queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.loop = asyncio.get_running_loop()
        self.last_item_at = self.loop.time()
        self.silence_seconds = silence_seconds
        self.watchdog: asyncio.TimerHandle | None = None
        if silence_seconds:
            self.watchdog = self.loop.call_at(self.last_item_at + silence_seconds, self.watch)
        self.task = asyncio.create_task(self.run(stream))

    async def run(self, stream: AsyncIterator[Any]) -> None:
        end: tuple[str, Any] = ("end", None)
        try:
            async for item in stream:
                self.last_item_at = self.loop.time()
                self.queue.put_nowait(("item", item))
        except Exception as error:  # raised in the reader, where it is handled
            end = ("error", error)
        finally:
            if self.watchdog is not None:
                self.watchdog.cancel()
            self.queue.put_nowait(end)

    def watch(self) -> None:
        """The watchdog's round: the stream was silent too long, or look again later."""
        if self.task.done():
            return
        due = self.last_item_at + self.silence_seconds
        if self.loop.time() >= due:
            self.queue.put_nowait(("silent", None))
        else:
            self.watchdog = self.loop.call_at(due, self.watch)

    async def items(self) -> AsyncIterator[Any]:
        while True:
            kind, value = await self.queue.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            if kind == "silent":
                raise ModelSilent()
            yield value

    async def wind_down(self, timeout: float) -> None:
        """Wait for the stream to end by itself (what it still yields is dropped); cancel it
        only if it does not within `timeout` seconds."""
        if self.watchdog is not None:
            self.watchdog.cancel()
        if not self.task.done():
            await asyncio.wait({self.task}, timeout=timeout)
        if not self.task.done():
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


class SdkClockStore:
    """The store as ChatKit's agent helpers see it: items it loads carry naive local times.

    `stream_agent_response` goes on with a workflow left open by the previous run (one
    before a client tool call) and later subtracts its `created_at` from the naive
    `datetime.now()` it stamps everything with; the store's aware times would fail that
    ("can't subtract offset-naive and offset-aware datetimes"). Saved back, the store
    makes them aware again.

    Such a workflow is already stored: the SDK adds it again when it ends (a done event,
    or `add_thread_item` at the end of the run), which the store refuses as a duplicate.
    Those go to `save_item` instead (`continued` holds their ids; `events()` turns their
    done events into replaced ones).
    """

    def __init__(self, store: Any) -> None:
        self.store = store
        self.continued: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    async def load_thread_items(self, *args: Any, **kwargs: Any) -> Any:
        page = await self.store.load_thread_items(*args, **kwargs)
        for item in page.data:
            if timezone.is_aware(item.created_at):
                item.created_at = timezone.make_naive(item.created_at)
            if isinstance(item, WorkflowItem):
                self.continued.add(item.id)
        return page

    async def add_thread_item(self, thread_id: str, item: Any, context: Any) -> None:
        if item.id in self.continued:
            await self.store.save_item(thread_id, item, context)
        else:
            await self.store.add_thread_item(thread_id, item, context)

    def done_as_replaced(self, event: ThreadStreamEvent) -> ThreadStreamEvent:
        if isinstance(event, ThreadItemDoneEvent) and event.item.id in self.continued:
            return ThreadItemReplacedEvent(item=event.item)
        return event


class AgentRun:
    """The agent answering one turn: iterate `events()` once, then read `usage`."""

    def __init__(
        self,
        agent_context: AgentContext,
        history: list[TResponseInputItem],
        new_item_id: Callable[[], str],
    ) -> None:
        if not isinstance(agent_context.store, SdkClockStore):
            agent_context.store = SdkClockStore(agent_context.store)
        self.agent_context = agent_context
        self.history = history
        self.new_item_id = new_item_id
        self.usage = Usage()
        self.model_name = ""

    async def events(self) -> AsyncIterator[ThreadStreamEvent]:
        thread_id = self.agent_context.thread.id
        async with connected_mcp_servers(app_settings.MCP_SERVERS) as (servers, unavailable):
            for name in unavailable:
                yield NoticeEvent(
                    level="warning",
                    message=gettext(
                        "The “%(name)s” tools are unavailable right now; answering without them."
                    )
                    % {"name": name},
                )
            agent = agent_for(self.agent_context.request_context)
            if servers:
                agent = agent.clone(mcp_servers=[*agent.mcp_servers, *servers])
            self.model_name = model_name(agent)
            result = Runner.run_streamed(
                agent,
                self.history,
                context=self.agent_context,
                hooks=ToolActivityHooks(),
                # Traces would be exported to OpenAI: never by default, and never offline.
                run_config=RunConfig(tracing_disabled=True),
            )
            timeout = app_settings.MODEL_TIMEOUT
            pump = Pump(stream_agent_response(self.agent_context, result), timeout)
            try:
                async for event in with_store_item_ids(pump.items(), self.new_item_id):
                    yield self.agent_context.store.done_as_replaced(event)
            except ModelSilent as error:
                logger.warning("Model silent for %ss in thread %s", timeout, thread_id)
                raise CustomStreamError(
                    gettext(
                        "The assistant's model provider did not answer within %(seconds)s"
                        " seconds. Please retry."
                    )
                    % {"seconds": f"{timeout:g}"},
                    allow_retry=True,
                ) from error
            except openai.OpenAIError as error:
                logger.warning("Model provider error in thread %s: %r", thread_id, error)
                raise CustomStreamError(
                    provider_error_message(error), allow_retry=True
                ) from error
            finally:
                # A stopped turn must not keep the model (and its bill) running.
                if not result.is_complete:
                    result.cancel()
                await pump.wind_down(WIND_DOWN_SECONDS)
                self.usage = result.context_wrapper.usage
