"""Which agent answers, and with which model.

The model is chosen from settings, most specific first: an OpenAI-compatible server
(`CHAT_MODEL_BASE_URL`), then OpenAI itself (`OPENAI_API_KEY`), else the offline demo
model, so a fresh checkout answers without a key or a network.
"""

from collections.abc import Callable
from datetime import date
from functools import lru_cache

from agents import Agent, Model, OpenAIChatCompletionsModel, OpenAIResponsesModel
from openai import AsyncOpenAI

from chat.assistant.demo_model import DemoModel
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


def select_model() -> Model:
    """The model for this turn, from the current settings."""
    api_key = app_settings.OPENAI_API_KEY
    base_url = app_settings.MODEL_BASE_URL
    timeout = app_settings.MODEL_TIMEOUT
    if base_url:
        return OpenAIChatCompletionsModel(
            model=app_settings.MODEL, openai_client=openai_client(base_url, api_key, timeout)
        )
    if api_key:
        return OpenAIResponsesModel(
            model=app_settings.MODEL, openai_client=openai_client("", api_key, timeout)
        )
    return DemoModel(word_delay=app_settings.DEMO_WORD_DELAY)


def model_name() -> str:
    """The name the current settings' model is recorded under (insights, cost): the
    configured model, or `demo` for the offline one."""
    if app_settings.MODEL_BASE_URL or app_settings.OPENAI_API_KEY:
        return app_settings.MODEL
    return "demo"


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
    """The default site assistant: the configured model with the built-in tools."""
    return Agent(
        name="Site assistant",
        instructions=instructions_for(context),
        model=select_model(),
        tools=list(BUILTIN_TOOLS),
    )


def agent_for(context: RequestContext) -> Agent:
    """The agent for this turn, from the factory named by CHAT_AGENT (imported once, by
    chat.conf)."""
    factory: AgentFactory = app_settings.AGENT
    return factory(context)
