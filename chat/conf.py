"""The chat app's settings, with their defaults in one place.

Read as `from chat.conf import app_settings; app_settings.HISTORY_ITEMS`. Each attribute
looks up `settings.CHAT_<NAME>` on access, so `override_settings` and pytest-django's
`settings` fixture take effect in tests without reloading anything.
"""

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # Dotted path to a factory: RequestContext -> agents.Agent (see chat/assistant/agent.py).
    "AGENT": "chat.assistant.agent.build_agent",
    # Streamable-HTTP MCP servers connected for each turn: [{"name", "url", "headers",
    # "timeout"}]. An unreachable server is skipped with a notice to the user.
    "MCP_SERVERS": [],
    # Model selection (see chat/assistant/agent.py): demo model unless a key or base URL is set.
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
    # --- Limits (chat/limits.py); counters live in Django's cache ---
    # New messages per user, like "20/min" or "500/day"; empty for no limit.
    "RATE_LIMIT": "20/min",
    # Answers one user may have streaming at the same time; 0 for no limit.
    "MAX_CONCURRENT_STREAMS": 3,
    # Tokens (input + output) one user may use per day; 0 for no quota.
    "DAILY_TOKEN_QUOTA": 0,
    # How long a message waits for the previous answer in its thread before a 429.
    "TURN_WAIT_SECONDS": 30.0,
    # Longest automatic thread title taken from the first message.
    "TITLE_MAX_CHARS": 60,
    # --- The embedded widget (templates/chat/, static/chat/) ---
    # Where the page loads the ChatKit web component from.
    "CDN_URL": "https://cdn.platform.openai.com/deployments/chatkit/chatkit.js",
    # ChatKit's `api.domainKey`. Localhost needs none; in production register the site's
    # domain at platform.openai.com (Settings > Security > Domain allowlist) and set the key.
    "DOMAIN_KEY": "domain_pk_localhost_dev",
    # Seconds the page waits for the ChatKit script to define <openai-chatkit> before it
    # tells the user the widget could not be loaded.
    "WIDGET_TIMEOUT": 10.0,
    # Which chat client the panel runs: "auto" (ChatKit when its script loads within
    # WIDGET_TIMEOUT, else the site's built-in client), "builtin" (always the built-in
    # client; the CDN is never contacted, for air-gapped sites) or "chatkit" (never the
    # built-in client: the panel explains when ChatKit cannot load).
    "WIDGET": "auto",
    # Start screen and composer texts of the widget.
    "GREETING": "How can I help you today?",
    "PROMPTS": [
        {"label": "What can you do?", "prompt": "What can you do?", "icon": "circle-question"},
        {
            "label": "Summarise this page",
            "prompt": "Summarise the page I am on.",
            "icon": "document",
        },
    ],
    "COMPOSER_PLACEHOLDER": "Ask the assistant…",
    # --- Attachments (chat/attachments.py, chat/converter.py) ---
    # Largest accepted file, in bytes (413 above it).
    "ATTACHMENT_MAX_BYTES": 10 * 1024 * 1024,
    # Accepted MIME types (415 otherwise). Images and PDFs are checked against their
    # signature; text/plain also takes source code files.
    "ATTACHMENT_TYPES": [
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "application/pdf",
        "text/plain",
        "text/markdown",
        "text/csv",
        "application/json",
    ],
    # Most attachments one message may carry (400 above it).
    "ATTACHMENTS_PER_MESSAGE": 5,
    # How the widget uploads: "two_phase" (attachments.create, then a signed upload URL)
    # or "direct" (multipart POST to /chatkit/upload/ with the Bearer token).
    "ATTACHMENT_UPLOAD_STRATEGY": "two_phase",
    # Seconds a signed preview/download link stays valid (re-signed on every load).
    "ATTACHMENT_URL_MAX_AGE": 3600,
    # Seconds a two-phase upload URL stays valid.
    "ATTACHMENT_UPLOAD_URL_MAX_AGE": 900,
    # Largest image or PDF handed to the model inline (base64); larger ones are described.
    "ATTACHMENT_MODEL_MAX_BYTES": 10 * 1024 * 1024,
    # Longest excerpt of a text file the model sees, in characters.
    "ATTACHMENT_TEXT_MAX_CHARS": 20_000,
    # --- Retention (chat/retention.py, `manage.py purge_threads --retention`) ---
    # Threads with no activity for this many days are purged by `--retention`; 0 turns
    # `--retention` off (it then refuses to run).
    "RETENTION_DAYS": 90,
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
