"""The ChatKit server: how this site answers a turn.

The SDK's `ChatKitServer` routes requests and persists what streams through it; this
subclass names the thread, hands the turn to the assistant (`chat.assistant.run`),
records the turn's token usage, and stores feedback.
"""

import time
from collections.abc import AsyncIterator
from typing import Any

import chatkit.server
from chatkit.agents import AgentContext
from chatkit.server import ChatKitServer, NonStreamingResult, StreamingResult
from chatkit.types import (
    Action,
    AudioInput,
    ChatKitReq,
    FeedbackKind,
    SyncCustomActionResponse,
    ThreadMetadata,
    ThreadStreamEvent,
    TranscriptionResult,
    UserMessageInput,
    UserMessageItem,
    WidgetItem,
)
from pydantic import TypeAdapter

from chat.assistant import dictation
from chat.assistant.converter import SiteItemConverter
from chat.assistant.run import AgentRun
from chat.attachments.store import DjangoAttachmentStore
from chat.chatkit import actions
from chat.chatkit.checkpoints import checkpointed
from chat.chatkit.protocol import with_turn_choices
from chat.chatkit.requests import request_adapter
from chat.chatkit.store import DjangoStore
from chat.conf import app_settings
from chat.context import RequestContext, TurnTiming


def carries_answer_text(event: ThreadStreamEvent) -> bool:
    """Whether this event shows the user the answer's text: the end of their wait for a
    first token (insights: time to first token)."""
    if event.type == "thread.item.updated":
        return event.update.type == "assistant_message.content_part.text_delta"
    return event.type == "thread.item.done" and event.item.type == "assistant_message"


def title_from(message: UserMessageItem | UserMessageInput, max_chars: int) -> str:
    """A thread title from the first message (or the input it is made of): its words, cut
    on a word boundary."""
    text = " ".join(" ".join(part.text for part in message.content).split())
    if len(text) <= max_chars:
        return text or "New conversation"
    return text[:max_chars].rsplit(" ", 1)[0].rstrip(",.;:") + "…"


class ParsedRequestAdapter:
    """What `chatkit.server` calls `TypeAdapter`: the request adapter built once, and a
    request the view already parsed passed through as it is.

    `ChatKitServer.process()` (openai-chatkit 1.6.5) runs
    `TypeAdapter[ChatKitReq](ChatKitReq).validate_json(request)` on every call: building
    that adapter costs ~2 ms of CPU, as much as the rest of a read. The SDK has no public
    way to hand it a typed request (its per-type handlers are private), and overriding
    `process` would mean calling them. So the one name `process` looks up is bound to
    this stand-in (`install`): for `ChatKitReq` it returns the module-level adapter of
    chat/chatkit/requests.py, and its `validate_json` returns a request object unchanged,
    so `SiteChatKitServer.process(typed_request, context)` parses nothing at all. Any other
    type gets pydantic's own adapter. No private attribute of the SDK is read or called;
    should a later SDK stop building the adapter per call, the binding is simply unused.
    """

    def __class_getitem__(cls, item: Any) -> type["ParsedRequestAdapter"]:
        return cls

    def __new__(cls, type_: Any, *args: Any, **kwargs: Any) -> Any:
        if type_ is ChatKitReq and not args and not kwargs:
            return super().__new__(cls)
        return TypeAdapter(type_, *args, **kwargs)

    def validate_json(self, data: Any, **kwargs: Any) -> ChatKitReq:
        if isinstance(data, str | bytes | bytearray):
            return request_adapter.validate_json(data, **kwargs)
        return data

    @classmethod
    def install(cls) -> None:
        chatkit.server.TypeAdapter = cls  # type: ignore[misc]


ParsedRequestAdapter.install()


class SiteChatKitServer(ChatKitServer[RequestContext]):
    store: DjangoStore

    def __init__(
        self,
        store: DjangoStore | None = None,
        attachment_store: DjangoAttachmentStore | None = None,
    ) -> None:
        super().__init__(store or DjangoStore(), attachment_store or DjangoAttachmentStore())
        self.converter = SiteItemConverter()

    async def process(  # type: ignore[override]
        self, request: ChatKitReq | str | bytes | bytearray, context: RequestContext
    ) -> StreamingResult | NonStreamingResult:
        """Answer a request: the typed one the view parsed (chat/chatkit/requests.py), or
        raw JSON. A typed request is not parsed again (see `ParsedRequestAdapter`)."""
        return await super().process(request, context)  # type: ignore[arg-type]

    async def respond(
        self,
        thread: ThreadMetadata,
        input_user_message: UserMessageItem | None,
        context: RequestContext,
    ) -> AsyncIterator[ThreadStreamEvent]:
        if input_user_message is not None and not thread.title:
            thread.title = title_from(input_user_message, app_settings.TITLE_MAX_CHARS)
        context = await with_turn_choices(self.store, thread, input_user_message, context)
        run = AgentRun(
            AgentContext(thread=thread, store=self.store, request_context=context),
            await self.history(thread, context),
            lambda: self.store.generate_item_id("message", thread, context),
        )
        events = checkpointed(
            run.events(), thread.id, self.store, context, app_settings.CHECKPOINT_SECONDS
        )
        timing = TurnTiming(started=time.monotonic())
        usage = context.usage
        usage.thread_id = thread.id
        usage.watch(lambda: (run.usage.input_tokens, run.usage.output_tokens, run.model_name),
                    timing)
        try:
            async for event in events:
                timing.saw(carries_answer_text(event))
                yield event
        finally:
            # Stopped answers used tokens too. The turn's record takes these when the turn
            # ends (chat/chatkit/runner.py); the thread keeps running totals.
            usage.settle(final=True)
            await self.store.record_activity(
                thread.id, usage.input_tokens, usage.output_tokens, context
            )

    async def history(self, thread: ThreadMetadata, context: RequestContext) -> list:
        """The thread's most recent items (the new message included), oldest first."""
        items = await self.store.newest_items_to_read(
            thread.id, app_settings.HISTORY_ITEMS, context
        )
        return await self.converter.to_agent_input(list(reversed(items)))

    async def add_feedback(
        self,
        thread_id: str,
        item_ids: list[str],
        feedback: FeedbackKind,
        context: RequestContext,
    ) -> None:
        await self.store.save_feedback(thread_id, item_ids, feedback, context)

    # --- the rest of the protocol: chat/chatkit/actions.py, chat/assistant/dictation.py ---

    async def action(
        self,
        thread: ThreadMetadata,
        action: Action,
        sender: WidgetItem | None,
        context: RequestContext,
    ) -> AsyncIterator[ThreadStreamEvent]:
        entry, call = actions.action_call(
            thread, action, sender, context, self.store, lambda: self.respond(thread, None, context)
        )
        async for event in actions.stream_action(entry, call):
            yield event

    async def sync_action(
        self,
        thread: ThreadMetadata,
        action: Action,
        sender: WidgetItem | None,
        context: RequestContext,
    ) -> SyncCustomActionResponse:
        entry, call = actions.action_call(
            thread, action, sender, context, self.store, lambda: self.respond(thread, None, context)
        )
        return await actions.sync_action(entry, call)

    async def transcribe(
        self, audio_input: AudioInput, context: RequestContext
    ) -> TranscriptionResult:
        return await dictation.transcribe(audio_input)
