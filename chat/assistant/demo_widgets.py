"""The offline demo's widget and its actions: a counter card with two buttons.

"Count" is a streamed action (`threads.custom_action`): progress, the card updated, and a
message. "Like" is a synchronous one (`threads.sync_custom_action`): the card updated in
the JSON answer. The card comes from a widget template (widgets/demo_counter.widget), the
way the ChatKit SDK documents them. The handlers are registered in
chat/chatkit/actions.py (`BUILTIN`); a site's own handlers are registered the same way.
"""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from chatkit.types import ProgressUpdateEvent, ThreadItemDoneEvent, ThreadItemReplacedEvent
from chatkit.widgets import DynamicWidgetRoot, WidgetTemplate
from pydantic import BaseModel, Field

COUNTER = WidgetTemplate.from_file(str(Path(__file__).parent / "widgets" / "demo_counter.widget"))


# The card's introduction, streamed word by word when the card first appears.
INTRO = "A card from the server: **Count** streams its answer, **Like** answers at once."


def counter_widget(
    count: int = 0, liked: bool = False, intro: str = INTRO, streaming: bool = False
) -> DynamicWidgetRoot:
    return COUNTER.build({"count": count, "liked": liked, "intro": intro, "streaming": streaming})


async def streamed_counter(word_delay: float) -> AsyncIterator[DynamicWidgetRoot]:
    """The card as it appears: its introduction streamed word by word (ChatKit sends text
    deltas of the `intro` component), then the finished card (a root update)."""
    words = INTRO.split(" ")
    for shown in range(1, len(words) + 1):
        yield counter_widget(intro=" ".join(words[:shown]), streaming=True)
        await asyncio.sleep(word_delay)
    yield counter_widget()


def counter_copy_text(count: int, liked: bool) -> str:
    return f"Demo widget: clicked {count} time{'s' if count != 1 else ''}" + (
        ", liked" if liked else ""
    )


class CountPayload(BaseModel):
    count: int = Field(ge=0, le=1_000_000)
    liked: bool = False


LikePayload = CountPayload


async def count(call: Any):
    """demo.count (streamed): one more click, shown on the card and said in a message."""
    clicks = call.payload.count + 1
    yield ProgressUpdateEvent(icon="sparkle", text="Counting…")
    card = counter_widget(clicks, call.payload.liked)
    text = counter_copy_text(clicks, call.payload.liked)
    yield ThreadItemReplacedEvent(item=call.updated_sender(card, text))
    message = f"You clicked the demo widget's button {clicks} time{'s' if clicks != 1 else ''}."
    yield ThreadItemDoneEvent(item=call.assistant_message(message))


async def like(call: Any) -> Any:
    """demo.like (synchronous): the card, liked or not."""
    liked = not call.payload.liked
    card = counter_widget(call.payload.count, liked)
    return call.updated_sender(card, counter_copy_text(call.payload.count, liked))
