"""Checkpoints of a growing answer, so a worker that dies loses at most a second of text.

The SDK stores an assistant message when it is done (and, when a stream is cancelled,
what it had); a worker killed mid-answer would lose all of it. `checkpointed` follows the
answer's deltas as they stream and saves the message so far every `every` seconds, marked
partial; the SDK's own save at the end replaces the checkpoint. A partial item left after
its turn ended is an answer cut off by a lost worker.
"""

import time
from collections.abc import AsyncIterator

from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageContentPartAdded,
    AssistantMessageContentPartDone,
    AssistantMessageContentPartTextDelta,
    AssistantMessageItem,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemUpdatedEvent,
    ThreadStreamEvent,
)

from chat.chatkit.store import DjangoStore
from chat.context import RequestContext


def apply_update(item: AssistantMessageItem, update: object) -> bool:
    """Apply a content update to the copy being followed; whether it changed the text."""
    index = getattr(update, "content_index", None)
    if index is None:
        return False
    while len(item.content) <= index:
        item.content.append(AssistantMessageContent(text="", annotations=[]))
    if isinstance(update, AssistantMessageContentPartTextDelta):
        item.content[index].text += update.delta
    elif isinstance(update, AssistantMessageContentPartAdded | AssistantMessageContentPartDone):
        # A copy: the SDK applies the same update objects to its own pending items.
        item.content[index] = update.content.model_copy(deep=True)
    else:
        return False
    return True


async def checkpointed(
    events: AsyncIterator[ThreadStreamEvent],
    thread_id: str,
    store: DjangoStore,
    context: RequestContext,
    every: float,
) -> AsyncIterator[ThreadStreamEvent]:
    """Relay `events`, saving unfinished assistant messages at most every `every` seconds."""
    growing: dict[str, AssistantMessageItem] = {}
    changed: set[str] = set()
    last_save = time.monotonic()
    async for event in events:
        if isinstance(event, ThreadItemAddedEvent) and isinstance(
            event.item, AssistantMessageItem
        ):
            growing[event.item.id] = event.item.model_copy(deep=True)
        elif isinstance(event, ThreadItemUpdatedEvent) and event.item_id in growing:
            if apply_update(growing[event.item_id], event.update):
                changed.add(event.item_id)
        elif isinstance(event, ThreadItemDoneEvent):
            growing.pop(event.item.id, None)
            changed.discard(event.item.id)
        yield event
        if changed and time.monotonic() - last_save >= every:
            for item_id in sorted(changed):
                if item_id in growing:
                    await store.save_checkpoint(thread_id, growing[item_id], context)
            changed.clear()
            last_save = time.monotonic()
