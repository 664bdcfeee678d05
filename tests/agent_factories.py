"""Agent factories that tests name in CHAT_AGENT."""

import asyncio

from agents import Agent, function_tool

from chat.assistant.agent import build_agent
from chat.assistant.demo_model import DemoModel
from chat.context import RequestContext

seen_contexts: list[RequestContext] = []


def recording_factory(context: RequestContext) -> Agent:
    """The default assistant, remembering each request context it was built for."""
    seen_contexts.append(context)
    return build_agent(context)


class SpyModel(DemoModel):
    """The demo model, remembering what each call was given."""

    def __init__(self) -> None:
        super().__init__(word_delay=0)
        self.calls: list[dict] = []

    def stream_response(self, system_instructions, input, model_settings, tools, *args, **kwargs):
        self.calls.append(
            {"instructions": system_instructions, "input": input, "tools": [t.name for t in tools]}
        )
        return super().stream_response(
            system_instructions, input, model_settings, tools, *args, **kwargs
        )


spy_model = SpyModel()


def spy_factory(context: RequestContext) -> Agent:
    """The default assistant, with the spying model."""
    return build_agent(context).clone(model=spy_model)


def pirate_factory(context: RequestContext) -> Agent:
    """A site's own agent: its own name and instructions, no tools."""
    return Agent(name="Pirate", instructions="Talk like a pirate.", model=spy_model)


# How each slow_lookup call ended: "finished" or "cancelled".
slow_lookup_endings: list[str] = []


@function_tool
async def slow_lookup() -> str:
    """A tool that takes a while, so a test can hang up in the middle of it."""
    try:
        await asyncio.sleep(2)
    except asyncio.CancelledError:
        slow_lookup_endings.append("cancelled")
        raise
    slow_lookup_endings.append("finished")
    return "slow result"


def slow_tool_factory(context: RequestContext) -> Agent:
    return build_agent(context).clone(tools=[slow_lookup], model=DemoModel(word_delay=0))


async def hello_action(call):
    """A site's action handler (CHAT_ACTIONS in tests/test_protocol.py): greets by payload
    name and user."""
    from chatkit.types import ThreadItemDoneEvent

    name = (call.payload or {}).get("name", "nobody")
    yield ThreadItemDoneEvent(
        item=call.assistant_message(f"Hello {name} from {call.user.get_username()}.")
    )
