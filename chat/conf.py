"""The chat app's settings, with their defaults in one place.

Read as `from chat.conf import app_settings; app_settings.HISTORY_ITEMS`. Each attribute
looks up `settings.CHAT_<NAME>` on access, so `override_settings` and pytest-django's
`settings` fixture take effect in tests without reloading anything.
"""

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # Dotted path to a factory: RequestContext -> agents.Agent (see chat/agent.py).
    "AGENT": "chat.agent.build_agent",
    # Streamable-HTTP MCP servers connected for each turn: [{"name", "url", "headers",
    # "timeout"}]. An unreachable server is skipped with a notice to the user.
    "MCP_SERVERS": [],
    # Model selection (see chat/agent.py): demo model unless a key or base URL is set.
    "MODEL": "gpt-4.1-mini",
    "MODEL_BASE_URL": "",
    "MODEL_TIMEOUT": 60.0,
    "INSTRUCTIONS": (
        "You are the assistant embedded in this website. Answer clearly and concisely."
    ),
    # How many of the thread's most recent items the model sees each turn.
    "HISTORY_ITEMS": 40,
    # Largest accepted request body on /chatkit/, in bytes (413 above it).
    "MAX_REQUEST_BYTES": 1_000_000,
    # Seconds of silence on a stream before a `: keepalive` comment goes out.
    "KEEPALIVE_SECONDS": 15.0,
    # Pause between words of the offline demo model, so it streams like a real one.
    "DEMO_WORD_DELAY": 0.03,
    # Longest automatic thread title taken from the first message.
    "TITLE_MAX_CHARS": 60,
}


class AppSettings:
    """Attribute access to CHAT_* settings with defaults."""

    prefix = "CHAT_"

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(name)
        return getattr(settings, self.prefix + name, DEFAULTS[name])

    @property
    def OPENAI_API_KEY(self) -> str:
        return getattr(settings, "OPENAI_API_KEY", "")


app_settings = AppSettings()
