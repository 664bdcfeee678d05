"""Which agent answers, and with which model.

The model is chosen from settings, most specific first: an OpenAI-compatible server
(`CHAT_MODEL_BASE_URL`), then OpenAI itself (`OPENAI_API_KEY`), else the offline demo
model, so a fresh checkout answers without a key or a network.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from agents import (
    Agent,
    Model,
    ModelSettings,
    OpenAIChatCompletionsModel,
    OpenAIResponsesModel,
    RunContextWrapper,
    StopAtTools,
)
from openai import AsyncOpenAI

from chat.assistant.choices import model_entry
from chat.assistant.demo_model import DemoModel
from chat.assistant.demo_tools import CLIENT_TOOLS, DEMO_TOOLS
from chat.assistant.tools import BUILTIN_TOOLS
from chat.conf import app_settings
from chat.context import RequestContext

AgentFactory = Callable[[RequestContext], Agent]


@lru_cache(maxsize=4)
def openai_client(base_url: str, api_key: str, timeout: float) -> AsyncOpenAI:
    """One client (and connection pool) per configuration, shared by all requests."""
    return AsyncOpenAI(
        base_url=base_url or None,
        # OpenAI-compatible local servers ignore the key, but the client requires one.
        api_key=api_key or "not-needed",
        timeout=timeout,
        max_retries=1,
    )


@dataclass(frozen=True)
class ModelChoice:
    """What the model of a turn is made from, read from the settings when the turn starts."""

    provider: str  # auto, openai, compatible or demo (CHAT_MODELS)
    name: str
    api_key: str
    base_url: str
    timeout: float
    word_delay: float  # the demo model's
    listed: bool  # named by a CHAT_MODELS entry, not CHAT_MODEL


def model_choice(model_id: str = "") -> ModelChoice:
    """`model_id` names an entry of CHAT_MODELS; empty means CHAT_MODEL."""
    entry = model_entry(model_id) if model_id else None
    return ModelChoice(
        provider=entry["provider"] if entry else "auto",
        name=entry["id"] if entry else app_settings.MODEL,
        api_key=app_settings.OPENAI_API_KEY,
        base_url=app_settings.MODEL_BASE_URL,
        timeout=app_settings.MODEL_TIMEOUT,
        word_delay=app_settings.DEMO_WORD_DELAY,
        listed=entry is not None,
    )


def select_model(choice: ModelChoice) -> Model:
    """The model of `choice`. A provider that is not configured answers with the offline
    demo model."""
    if choice.base_url and choice.provider in {"auto", "compatible"}:
        client = openai_client(choice.base_url, choice.api_key, choice.timeout)
        return OpenAIChatCompletionsModel(model=choice.name, openai_client=client)
    if choice.api_key and choice.provider in {"auto", "openai"}:
        client = openai_client("", choice.api_key, choice.timeout)
        return OpenAIResponsesModel(model=choice.name, openai_client=client)
    name = choice.name if choice.listed else None
    return DemoModel(word_delay=choice.word_delay, model_name=name)


def instructions_for(context: RequestContext) -> str:
    """The site's instructions plus who is asking, when, and from which page."""
    user = context.user
    name = (getattr(user, "get_full_name", lambda: "")() or user.get_username()).strip()
    lines = [app_settings.INSTRUCTIONS, "", f"You are talking to {name}."]
    lines.append(f"Today is {date.today().isoformat()}.")
    page = context.page
    if page.url or page.title:
        lines.append(f"The user is on the page “{page.title}” ({page.url}).")
    if page.selection:
        lines.append(f"They have selected this text on the page: “{page.selection}”.")
    return "\n".join(lines)


def run_instructions(run_context: RunContextWrapper[Any], agent: Agent) -> str:
    """The instructions of one run, for the shared agent of `build_agent`: the SDK calls
    this with the run's context (an `AgentContext`, chat/assistant/run.py)."""
    context = run_context.context
    return instructions_for(getattr(context, "request_context", context))


def build_agent(context: RequestContext) -> Agent:
    """The default site assistant: the chosen (or configured) model with the built-in
    tools and the browser's; the offline demo model gets the demo's tools too. The tool
    the user picked in the composer is forced for this turn."""
    return site_agent(model_choice(context.model_id), context.tool_choice)


@lru_cache(maxsize=32)
def site_agent(choice: ModelChoice, tool_choice: str) -> Agent:
    """One agent for each model and composer tool, shared by the turns that use them, as
    agents are meant to be: building one per turn (the SDK inspects its settings' types
    each time) took 2% of a turn's CPU samples. What differs from turn to turn, the
    instructions, is read from each run's context (`run_instructions`)."""
    model = select_model(choice)
    tools = [*BUILTIN_TOOLS, *CLIENT_TOOLS]
    if isinstance(model, DemoModel):
        tools += DEMO_TOOLS
    return Agent(
        name="Site assistant",
        instructions=run_instructions,
        model=model,
        tools=tools,
        model_settings=ModelSettings(tool_choice=tool_choice or None),
        # A client tool runs in the page: the run ends there and goes on with its output.
        tool_use_behavior=StopAtTools(stop_at_tool_names=[tool.name for tool in CLIENT_TOOLS]),
    )


def agent_for(context: RequestContext) -> Agent:
    """The agent for this turn, from the factory named by CHAT_AGENT (imported once, by
    chat.conf)."""
    factory: AgentFactory = app_settings.AGENT
    return factory(context)
