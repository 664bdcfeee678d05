"""The ChatKit server: how this site answers a turn.

The SDK's `ChatKitServer` routes requests and persists what streams through it; this
subclass supplies the answer (`respond`), stores feedback, and fixes two things the SDK
leaves to integrations: model item ids and friendly provider errors.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

import openai
from agents import RunConfig, Runner
from chatkit.agents import AgentContext, stream_agent_response
from chatkit.errors import CustomStreamError
from chatkit.server import ChatKitServer
from chatkit.types import (
    AssistantMessageItem,
    FeedbackKind,
    NoticeEvent,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemUpdatedEvent,
    ThreadMetadata,
    ThreadStreamEvent,
    UserMessageItem,
)

from chat.agent import agent_for
from chat.attachments import DjangoAttachmentStore
from chat.conf import app_settings
from chat.context import RequestContext
from chat.converter import SiteItemConverter
from chat.mcp import connected_mcp_servers
from chat.store import DjangoStore
from chat.tool_activity import ToolActivityHooks

logger = logging.getLogger(__name__)


def title_from(message: UserMessageItem, max_chars: int) -> str:
    """A thread title from the first message: its words, cut on a word boundary."""
    text = " ".join(" ".join(part.text for part in message.content).split())
    if len(text) <= max_chars:
        return text or "New conversation"
    return text[:max_chars].rsplit(" ", 1)[0].rstrip(",.;:") + "…"


def provider_error_message(error: Exception) -> str:
    """Say in plain words what went wrong with the model provider."""
    if isinstance(error, openai.AuthenticationError):
        return "The assistant's model provider rejected its API key. Please tell the site's admin."
    if isinstance(error, openai.RateLimitError):
        return "The assistant's model provider is busy (rate limited). Please retry in a moment."
    if isinstance(error, openai.APITimeoutError):
        return "The assistant's model provider took too long to answer. Please retry."
    if isinstance(error, openai.APIConnectionError):
        return "The assistant could not reach its model provider. Please retry later."
    if isinstance(error, openai.InternalServerError):
        return "The assistant's model provider had an internal error. Please retry."
    return "The assistant's model provider returned an error. Please retry."


async def with_store_item_ids(
    events: AsyncIterator[ThreadStreamEvent],
    new_id: Callable[[], str],
) -> AsyncIterator[ThreadStreamEvent]:
    """Give each streamed assistant message an id from the store.

    ChatKit reuses the model's item id as the thread item id, but chat-completions
    providers call every item `__fake_id__`: without this, each answer would overwrite the
    previous one. An id is mapped from `added` until its `done`, so a provider that reuses
    one id for several messages still gets distinct items.
    """
    current: dict[str, str] = {}
    async for event in events:
        is_answer = isinstance(getattr(event, "item", None), AssistantMessageItem)
        if isinstance(event, ThreadItemAddedEvent) and is_answer:
            current[event.item.id] = store_id = new_id()
            event = ThreadItemAddedEvent(item=event.item.model_copy(update={"id": store_id}))
        elif isinstance(event, ThreadItemUpdatedEvent) and event.item_id in current:
            event = event.model_copy(update={"item_id": current[event.item_id]})
        elif isinstance(event, ThreadItemDoneEvent) and is_answer:
            store_id = current.pop(event.item.id, None) or new_id()
            event = ThreadItemDoneEvent(item=event.item.model_copy(update={"id": store_id}))
        yield event


class ModelSilent(Exception):
    """The model sent nothing for CHAT_MODEL_TIMEOUT seconds."""


async def cut_off_when_silent(
    events: AsyncIterator[ThreadStreamEvent], seconds: float
) -> AsyncIterator[ThreadStreamEvent]:
    """Relay `events`, giving up when the next one takes longer than `seconds`.

    Only the wait for the next event is timed, never the consumer's work between events,
    so a long answer that keeps streaming is never cut off.
    """
    iterator = aiter(events)
    while True:
        try:
            async with asyncio.timeout(seconds):
                event = await anext(iterator)
        except StopAsyncIteration:
            return
        except TimeoutError as error:
            raise ModelSilent from error
        yield event


class SiteChatKitServer(ChatKitServer[RequestContext]):
    store: DjangoStore

    def __init__(
        self,
        store: DjangoStore | None = None,
        attachment_store: DjangoAttachmentStore | None = None,
    ) -> None:
        super().__init__(store or DjangoStore(), attachment_store or DjangoAttachmentStore())
        self.converter = SiteItemConverter()

    async def respond(
        self,
        thread: ThreadMetadata,
        input_user_message: UserMessageItem | None,
        context: RequestContext,
    ) -> AsyncIterator[ThreadStreamEvent]:
        if input_user_message is not None and not thread.title:
            thread.title = title_from(input_user_message, app_settings.TITLE_MAX_CHARS)

        agent_context = AgentContext(thread=thread, store=self.store, request_context=context)
        async with connected_mcp_servers(app_settings.MCP_SERVERS) as (servers, unavailable):
            for name in unavailable:
                yield NoticeEvent(
                    level="warning",
                    message=f"The “{name}” tools are unavailable right now; "
                    "answering without them.",
                )
            agent = agent_for(context)
            if servers:
                agent = agent.clone(mcp_servers=[*agent.mcp_servers, *servers])
            result = Runner.run_streamed(
                agent,
                await self.history(thread, context),
                context=agent_context,
                hooks=ToolActivityHooks(),
                # Traces would be exported to OpenAI: never by default, and never offline.
                run_config=RunConfig(tracing_disabled=True),
            )
            timeout = app_settings.MODEL_TIMEOUT
            try:
                async for event in with_store_item_ids(
                    cut_off_when_silent(stream_agent_response(agent_context, result), timeout),
                    lambda: self.store.generate_item_id("message", thread, context),
                ):
                    yield event
            except ModelSilent as error:
                logger.warning("Model silent for %ss in thread %s", timeout, thread.id)
                raise CustomStreamError(
                    f"The assistant's model provider did not answer within {timeout:g} seconds."
                    " Please retry.",
                    allow_retry=True,
                ) from error
            except openai.OpenAIError as error:
                logger.warning("Model provider error in thread %s: %r", thread.id, error)
                raise CustomStreamError(
                    provider_error_message(error), allow_retry=True
                ) from error
            finally:
                # A client that hung up must not keep the model (and its bill) running.
                if not result.is_complete:
                    result.cancel()
        usage = result.context_wrapper.usage
        context.stats.update(
            thread_id=thread.id, input_tokens=usage.input_tokens, output_tokens=usage.output_tokens
        )
        await self.store.record_usage(
            thread.id, usage.input_tokens, usage.output_tokens, context
        )

    async def history(self, thread: ThreadMetadata, context: RequestContext) -> list:
        """The thread's most recent items (the new message included), oldest first."""
        page = await self.store.load_thread_items(
            thread.id, None, app_settings.HISTORY_ITEMS, "desc", context
        )
        return await self.converter.to_agent_input(list(reversed(page.data)))

    async def add_feedback(
        self,
        thread_id: str,
        item_ids: list[str],
        feedback: FeedbackKind,
        context: RequestContext,
    ) -> None:
        await self.store.save_feedback(thread_id, item_ids, feedback, context)
