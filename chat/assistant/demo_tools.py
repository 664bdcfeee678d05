"""Tools that show the ChatKit protocol's parts at work, and the browser's tools.

`switch_theme` is a client tool: it runs in the page (static/chat/client-tools.js), not
here. Returning it as `AgentContext.client_tool_call` ends the run (the agent stops at
client tools, see `CLIENT_TOOLS`), the widget runs it and sends its result with
`threads.add_client_tool_output`, and the answer continues from there.

The others are for the offline demo (chat/assistant/demo_model.py calls them on the
phrases the README lists): a widget with actions, a client effect, progress updates from
a long tool, and a question for structured input.
"""

import asyncio
from datetime import datetime
from typing import Literal

from agents import RunContextWrapper, function_tool
from chatkit.agents import AgentContext, ClientToolCall
from chatkit.types import (
    ClientEffectEvent,
    ProgressUpdateEvent,
    StructuredInputItem,
    StructuredInputMultipleChoice,
    StructuredInputMultipleChoiceOption,
    ThreadItemDoneEvent,
)

from chat.assistant.demo_widgets import counter_copy_text, streamed_counter
from chat.conf import app_settings


@function_tool
async def switch_theme(
    ctx: RunContextWrapper[AgentContext], theme: Literal["light", "dark"]
) -> str:
    """Switch the website between its light and dark colour theme, in the user's browser.

    Args:
        theme: "light" or "dark".
    """
    ctx.context.client_tool_call = ClientToolCall(name="switch_theme", arguments={"theme": theme})
    return f"Asked the page to switch to the {theme} theme."


# Tools that run in the browser: the agent stops at them.
CLIENT_TOOLS = [switch_theme]


@function_tool
async def show_demo_widget(ctx: RunContextWrapper[AgentContext]) -> str:
    """Show an interactive demo widget (a card with buttons) in the conversation."""
    card = streamed_counter(app_settings.DEMO_WORD_DELAY)
    await ctx.context.stream_widget(card, copy_text=counter_copy_text(0, False))
    return "Showed the demo widget: its Count button streams, its Like button answers at once."


@function_tool
async def celebrate(ctx: RunContextWrapper[AgentContext]) -> str:
    """Make the page celebrate (a client effect: nothing is stored in the conversation)."""
    await ctx.context.stream(ClientEffectEvent(name="celebrate", data={"message": "🎉 Hooray!"}))
    return "The page celebrated."


@function_tool
async def long_task(ctx: RunContextWrapper[AgentContext], steps: int = 3) -> str:
    """A task that takes a while and reports its progress.

    Args:
        steps: How many steps to run (1 to 10).
    """
    steps = max(1, min(10, steps))
    for step in range(1, steps + 1):
        await ctx.context.stream(ProgressUpdateEvent(icon="bolt", text=f"Step {step} of {steps}…"))
        await asyncio.sleep(app_settings.DEMO_WORD_DELAY * 10)
    return f"Finished all {steps} steps."


@function_tool
async def ask_preferences(ctx: RunContextWrapper[AgentContext]) -> str:
    """Ask the user a multiple-choice question (their answer comes back as structured input)."""
    agent_context = ctx.context
    item = StructuredInputItem(
        id=agent_context.generate_id("message"),
        thread_id=agent_context.thread.id,
        created_at=datetime.now(),
        inputs=[
            StructuredInputMultipleChoice(
                id="colour",
                question="Which colour do you like best?",
                options=[
                    StructuredInputMultipleChoiceOption(value=value)
                    for value in ("Red", "Green", "Blue")
                ],
            )
        ],
    )
    await agent_context.stream(ThreadItemDoneEvent(item=item))
    return "Asked the user which colour they like best."


DEMO_TOOLS = [show_demo_widget, celebrate, long_task, ask_preferences]
