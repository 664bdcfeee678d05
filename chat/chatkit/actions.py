"""Widget actions: what a widget's button (or the page) asks the server to do.

A site registers a handler per action type, either with the decorator

    from chat.chatkit.actions import action

    @action("orders.cancel", payload=CancelPayload)
    async def cancel(call: ActionCall):           # streamed (threads.custom_action)
        yield ProgressUpdateEvent(text="Cancelling…")
        yield ThreadItemReplacedEvent(item=call.updated_sender(cancelled_card()))
        async for event in call.respond():        # and let the assistant say something
            yield event

or in settings, `CHAT_ACTIONS = {"orders.cancel": "shop.actions.cancel"}` (a handler named
there wins over a decorated one of the same type). A handler gets an `ActionCall`: the
thread, the action and its payload (validated against the `payload` model when one is
given), the widget item that sent it (or None), the user, the store. It is either

- an async generator of ChatKit events: widget updates (`ThreadItemReplacedEvent`, or
  `ThreadItemUpdatedEvent` with `WidgetRootUpdated`), new items (`ThreadItemDoneEvent`),
  `ProgressUpdateEvent`, `ClientEffectEvent`, and the assistant's answer
  (`call.respond()`); it serves `threads.custom_action`, run by the turn runner like any
  other answer;
- or a coroutine (or plain function) returning a widget root (the sender, updated), a
  thread item, a `SyncCustomActionResponse` or None; it serves both
  `threads.sync_custom_action` (the JSON answer) and `threads.custom_action` (streamed as
  a replaced item). The updated item is stored either way.

Everything about a request is checked before anything streams (`check_action_request`):
an unknown type or a payload its model rejects is a 400 naming it, a sender item that is
not the user's is a 404, one that is not a widget a 400.
"""

import inspect
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chatkit.actions import Action
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    SyncCustomActionResponse,
    ThreadItem,
    ThreadItemReplacedEvent,
    ThreadMetadata,
    ThreadsCustomActionReq,
    ThreadsSyncCustomActionReq,
    ThreadStreamEvent,
    WidgetItem,
)
from chatkit.widgets import WidgetComponentBase
from pydantic import BaseModel, ValidationError

from chat.assistant import demo_widgets
from chat.chatkit.store import DjangoStore
from chat.conf import app_settings
from chat.context import RequestContext
from chat.errors import BadRequest

Handler = Callable[["ActionCall"], Any]


@dataclass(frozen=True)
class Registered:
    handler: Handler
    payload: type[BaseModel] | None = None

    @property
    def streams(self) -> bool:
        return inspect.isasyncgenfunction(self.handler)


# Handlers registered with @action, by action type.
REGISTRY: dict[str, Registered] = {}

# The offline demo's widget actions (chat/assistant/demo_widgets.py); a site's own handler
# of the same type wins.
BUILTIN = {
    "demo.count": Registered(demo_widgets.count, demo_widgets.CountPayload),
    "demo.like": Registered(demo_widgets.like, demo_widgets.LikePayload),
}


def action(action_type: str, *, payload: type[BaseModel] | None = None):
    """Register the decorated function as the handler of `action_type` (see the module)."""

    def register(handler: Handler) -> Handler:
        handler.chat_action_payload = payload  # type: ignore[attr-defined]
        REGISTRY[action_type] = Registered(handler, payload)
        return handler

    return register


def registered(action_type: str) -> Registered:
    """The handler of `action_type`: CHAT_ACTIONS first, then @action, then the demo's."""
    handler = app_settings.ACTIONS.get(action_type)
    if handler is not None:
        return Registered(handler, getattr(handler, "chat_action_payload", None))
    found = REGISTRY.get(action_type) or BUILTIN.get(action_type)
    if found is None:
        raise BadRequest(f"Unknown action type {action_type!r}.")
    return found


def checked_payload(entry: Registered, action: Action[str, Any]) -> Any:
    """The payload as the handler's model reads it (400 naming what is wrong)."""
    if entry.payload is None:
        return action.payload
    try:
        return entry.payload.model_validate(action.payload if action.payload is not None else {})
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in detail['loc']) or 'payload'}: {detail['msg']}"
            for detail in error.errors(include_url=False)[:5]
        )
        raise BadRequest(f"Bad payload for action {action.type!r}: {problems}") from error


async def check_action_request(
    request: ThreadsCustomActionReq | ThreadsSyncCustomActionReq,
    store: DjangoStore,
    context: RequestContext,
) -> None:
    """Refuse, before anything streams, what the SDK would only fail halfway through."""
    params = request.params
    if not isinstance(params.action.type, str) or not params.action.type:
        raise BadRequest("params.action.type is required.")
    entry = registered(params.action.type)
    checked_payload(entry, params.action)
    if isinstance(request, ThreadsSyncCustomActionReq) and entry.streams:
        raise BadRequest(
            f"Action {params.action.type!r} streams its answer: send it as threads.custom_action."
        )
    if params.item_id:
        item = await store.load_item(params.thread_id, params.item_id, context)  # 404
        if not isinstance(item, WidgetItem):
            raise BadRequest("params.item_id must name a widget item.")


@dataclass
class ActionCall:
    """What an action handler gets."""

    thread: ThreadMetadata
    action: Action[str, Any]
    payload: Any
    sender: WidgetItem | None
    context: RequestContext
    store: DjangoStore
    # The assistant's answer on the thread as it stands (ChatKit events), for handlers
    # that want the model to follow up.
    respond: Callable[[], AsyncIterator[ThreadStreamEvent]]

    @property
    def user(self) -> Any:
        return self.context.user

    def new_id(self, kind: str = "message") -> str:
        return self.store.generate_item_id(kind, self.thread, self.context)  # type: ignore[arg-type]

    def widget_item(self, widget: WidgetComponentBase, copy_text: str | None = None) -> WidgetItem:
        """A new widget item in the thread (yield it in a ThreadItemDoneEvent)."""
        return WidgetItem(
            id=self.new_id(),
            thread_id=self.thread.id,
            created_at=datetime.now(),
            widget=widget,
            copy_text=copy_text,
        )

    def updated_sender(
        self, widget: WidgetComponentBase, copy_text: str | None = None
    ) -> WidgetItem:
        """The widget that sent the action, showing `widget` from now on."""
        if self.sender is None:
            raise BadRequest(f"Action {self.action.type!r} needs the widget that sent it.")
        update: dict[str, Any] = {"widget": widget}
        if copy_text is not None:
            update["copy_text"] = copy_text
        return self.sender.model_copy(update=update)

    def assistant_message(self, text: str) -> AssistantMessageItem:
        """A new assistant message (yield it in a ThreadItemDoneEvent)."""
        return AssistantMessageItem(
            id=self.new_id(),
            thread_id=self.thread.id,
            created_at=datetime.now(),
            content=[AssistantMessageContent(text=text)],
        )


def action_call(
    thread: ThreadMetadata,
    action: Action[str, Any],
    sender: WidgetItem | None,
    context: RequestContext,
    store: DjangoStore,
    respond: Callable[[], AsyncIterator[ThreadStreamEvent]],
) -> tuple[Registered, ActionCall]:
    entry = registered(action.type)
    call = ActionCall(
        thread=thread,
        action=action,
        payload=checked_payload(entry, action),
        sender=sender,
        context=context,
        store=store,
        respond=respond,
    )
    return entry, call


def updated_item(call: ActionCall, result: Any) -> ThreadItem | None:
    """What a non-streaming handler's result changes in the thread."""
    if result is None:
        return None
    if isinstance(result, SyncCustomActionResponse):
        return result.updated_item
    if isinstance(result, WidgetComponentBase):
        return call.updated_sender(result)
    return result


async def outcome(entry: Registered, call: ActionCall) -> ThreadItem | None:
    result = entry.handler(call)
    if inspect.isawaitable(result):
        result = await result
    return updated_item(call, result)


async def stream_action(entry: Registered, call: ActionCall) -> AsyncIterator[ThreadStreamEvent]:
    """`threads.custom_action`: the handler's events (the SDK stores the items in them)."""
    if entry.streams:
        async for event in entry.handler(call):
            yield event
        return
    item = await outcome(entry, call)
    if item is not None:
        yield ThreadItemReplacedEvent(item=item)


async def sync_action(entry: Registered, call: ActionCall) -> SyncCustomActionResponse:
    """`threads.sync_custom_action`: the updated item, stored, as the JSON answer."""
    item = await outcome(entry, call)
    if item is not None:
        await call.store.save_item(call.thread.id, item, call.context)
    return SyncCustomActionResponse(updated_item=item)
