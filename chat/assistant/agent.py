"""Which agent answers, and with which model.

The model is chosen from settings, most specific first: an OpenAI-compatible server
(`CHAT_MODEL_BASE_URL`), then OpenAI itself (`OPENAI_API_KEY`), else the offline demo
model, so a fresh checkout answers without a key or a network.
"""

from collections.abc import Callable
from datetime import date
from functools import lru_cache

from agents import (
    Agent,
    Model,
    ModelSettings,
    OpenAIChatCompletionsModel,
    OpenAIResponsesModel,
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


def select_model(model_id: str = "") -> Model:
    """The model for this turn, from the current settings: `model_id` names an entry of
    CHAT_MODELS (its provider: auto, openai, compatible or demo); empty means CHAT_MODEL.
    A provider that is not configured answers with the offline demo model."""
    api_key = app_settings.OPENAI_API_KEY
    base_url = app_settings.MODEL_BASE_URL
    timeout = app_settings.MODEL_TIMEOUT
    entry = model_entry(model_id) if model_id else None
    provider = entry["provider"] if entry else "auto"
    name = entry["id"] if entry else app_settings.MODEL
    if base_url and provider in {"auto", "compatible"}:
        return OpenAIChatCompletionsModel(
            model=name, openai_client=openai_client(base_url, api_key, timeout)
        )
    if api_key and provider in {"auto", "openai"}:
        return OpenAIResponsesModel(model=name, openai_client=openai_client("", api_key, timeout))
    return DemoModel(word_delay=app_settings.DEMO_WORD_DELAY, model_name=entry and name)


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


def build_agent(context: RequestContext) -> Agent:
    """The default site assistant: the chosen (or configured) model with the built-in
    tools and the browser's; the offline demo model gets the demo's tools too. The tool
    the user picked in the composer is forced for this turn."""
    model = select_model(context.model_id)
    tools = [*BUILTIN_TOOLS, *CLIENT_TOOLS]
    if isinstance(model, DemoModel):
        tools += DEMO_TOOLS
    return Agent(
        name="Site assistant",
        instructions=instructions_for(context),
        model=model,
        tools=tools,
        model_settings=ModelSettings(tool_choice=context.tool_choice or None),
        # A client tool runs in the page: the run ends there and goes on with its output.
        tool_use_behavior=StopAtTools(stop_at_tool_names=[tool.name for tool in CLIENT_TOOLS]),
    )


def agent_for(context: RequestContext) -> Agent:
    """The agent for this turn, from the factory named by CHAT_AGENT (imported once, by
    chat.conf)."""
    factory: AgentFactory = app_settings.AGENT
    return factory(context)
