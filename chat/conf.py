"""The chat app's settings, in one place: each one's default, how its environment variable
reads, what an empty variable means, and how its value is parsed and checked.

Read as `from chat.conf import app_settings; app_settings.RATE_LIMIT`: values come parsed
and typed (a `Rate` or None, a tuple of `McpServerConfig`, the agent factory itself...).
Each value is parsed on first use and kept for as long as the Django setting behind it is
the same object, so nothing is parsed per request while `override_settings` and
pytest-django's `settings` fixture still take effect at once. `manage.py check` (and
`migrate`, `runserver`) parses every setting at start-up and reports what is wrong with it
(chat/checks.py); a value that is still invalid at run time raises `ImproperlyConfigured`,
except the page's own settings, which log and fall back to their default so that a bad
greeting cannot take every page down.

chatsite/settings.py imports this module before Django is set up, so nothing of the chat
app is imported here at import time: the parsers that need chat code (the rate in
chat/limits.py, MCP servers in chat/assistant/mcp.py, the agent factory, the attachment
types in chat/attachments/policy.py) import it when they run.
"""

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings

from chat.protocol_parsers import (
    action_handlers,
    composer_tools,
    model_choices,
    optional_hook,
)
from chat.setting_parsers import (
    FLAG,
    INTEGER,
    JSON,
    LIST,
    NUMBER,
    PREFIX,
    TEXT,
    InvalidSetting,
    InvalidValue,
    agent_factory,
    choice,
    flag,
    http_url,
    mcp_servers,
    mime_types,
    model_prices,
    origins,
    prompts,
    rate,
    seconds,
    short,
    text,
    whole_number,
)

if TYPE_CHECKING:
    from chat.assistant.mcp import McpServerConfig
    from chat.setting_parsers import Rate

logger = logging.getLogger(__name__)


USE_DEFAULT = object()  # Setting.empty: an empty variable means the default, as if unset


@dataclass(frozen=True)
class Setting:
    default: Any
    parse: Callable[[Any], Any]
    # How CHAT_<NAME> in the environment becomes the Django setting; None: not read there.
    env: Callable[[str], Any] | None = TEXT
    # What a set but empty variable (`CHAT_RATE_LIMIT=`) means: the setting's "off" or
    # "none" where it has one, else USE_DEFAULT.
    empty: Any = USE_DEFAULT
    # Read by the page only: at run time an invalid value is logged and the default used.
    fallback: bool = False


SETTINGS: dict[str, Setting] = {
    # Dotted path to a factory: RequestContext -> agents.Agent (see chat/assistant/agent.py).
    "AGENT": Setting("chat.assistant.agent.build_agent", agent_factory),
    # Streamable-HTTP MCP servers connected for each turn: [{"name", "url", "headers",
    # "timeout"}]. An unreachable server is skipped with a notice to the user.
    "MCP_SERVERS": Setting([], mcp_servers, JSON, empty=[]),
    # Model selection (see chat/assistant/agent.py): demo model unless a key or base URL is set.
    "MODEL": Setting("gpt-4.1-mini", text(required=True)),
    "MODEL_BASE_URL": Setting("", lambda raw: http_url(raw, optional=True), empty=""),
    "MODEL_TIMEOUT": Setting(60.0, seconds(zero=False), NUMBER),
    "INSTRUCTIONS": Setting(
        "You are the assistant embedded in this website. Answer clearly and concisely.", text()
    ),
    # How many of the thread's most recent items the model sees each turn.
    "HISTORY_ITEMS": Setting(40, whole_number(1), INTEGER),
    # Largest accepted request body on /chatkit/, in bytes (413 above it).
    "MAX_REQUEST_BYTES": Setting(1_000_000, whole_number(1), INTEGER),
    # Seconds of silence on a stream before a `: keepalive` comment goes out.
    "KEEPALIVE_SECONDS": Setting(15.0, seconds(zero=False), NUMBER),
    # Pause between words of the offline demo model, so it streams like a real one.
    "DEMO_WORD_DELAY": Setting(0.03, seconds(zero=True), NUMBER),
    # --- Limits (chat/limits.py); counters live in Django's cache ---
    # New messages per user, like "20/min" or "500/day"; empty (or None) for no limit.
    "RATE_LIMIT": Setting("20/min", rate, empty=""),
    # Answers one user may have streaming at the same time; 0 for no limit.
    "MAX_CONCURRENT_STREAMS": Setting(3, whole_number(0), INTEGER, empty=0),
    # Tokens (input + output) one user may use per day; 0 for no quota.
    "DAILY_TOKEN_QUOTA": Setting(0, whole_number(0), INTEGER, empty=0),
    # When Redis is down: on, new messages go through without their rate counted and
    # without stream slots; off (the default), they get 503 with Retry-After.
    "LIMITS_FAIL_OPEN": Setting(False, flag, FLAG),
    # Origins (scheme://host[:port]) the built-in client may load Markdown images from;
    # the site's own origin and data: URLs always may. Empty: no external images.
    "IMAGE_ORIGINS": Setting([], origins, LIST, empty=[], fallback=True),
    # How long a message waits for the previous answer in its thread before a 429.
    "TURN_WAIT_SECONDS": Setting(30.0, seconds(zero=True), NUMBER),
    # Threads (and so database connections) one worker's async code uses at most
    # (chatsite/db.py); SQLite always gets one.
    "DB_POOL_SIZE": Setting(10, whole_number(1), INTEGER),
    # --- Turns (chat/chatkit/runner.py) ---
    # Whether an answer keeps going when its client hangs up (off: leaving stops it).
    "CONTINUE_AFTER_DISCONNECT": Setting(True, flag, FLAG),
    # Seconds a turn's leases live without a heartbeat: how soon a dead worker's thread
    # and stream slot are free again, and its turn is closed as interrupted.
    "TURN_LEASE_SECONDS": Setting(5.0, seconds(zero=False), NUMBER),
    # Seconds between checkpoints of a growing answer (what a crash can lose at most).
    "CHECKPOINT_SECONDS": Setting(1.0, seconds(zero=False), NUMBER),
    # Seconds a worker told to stop (SIGTERM) lets running answers finish.
    "SHUTDOWN_GRACE_SECONDS": Setting(25.0, seconds(zero=True), NUMBER),
    # Longest automatic thread title taken from the first message.
    "TITLE_MAX_CHARS": Setting(60, whole_number(1), INTEGER),
    # --- The embedded widget (templates/chat/, static/chat/) ---
    # Where the page loads the ChatKit web component from.
    "CDN_URL": Setting(
        "https://cdn.platform.openai.com/deployments/chatkit/chatkit.js",
        http_url,
        fallback=True,
    ),
    # ChatKit's `api.domainKey`. Localhost needs none; in production register the site's
    # domain at platform.openai.com (Settings > Security > Domain allowlist) and set the key.
    "DOMAIN_KEY": Setting("domain_pk_localhost_dev", text(), fallback=True),
    # Seconds the page waits for the ChatKit script to define <openai-chatkit> before it
    # tells the user the widget could not be loaded.
    "WIDGET_TIMEOUT": Setting(3.0, seconds(zero=False), NUMBER, fallback=True),
    # Which chat client the panel runs: "auto" (ChatKit when its script loads within
    # WIDGET_TIMEOUT, else the site's built-in client), "builtin" (always the built-in
    # client; the CDN is never contacted, for air-gapped sites) or "chatkit" (never the
    # built-in client: the panel explains when ChatKit cannot load).
    "WIDGET": Setting("auto", choice("auto", "builtin", "chatkit"), fallback=True),
    # Start screen and composer texts of the widget.
    "GREETING": Setting("How can I help you today?", text(), fallback=True),
    "PROMPTS": Setting(
        [
            {"label": "What can you do?", "prompt": "What can you do?", "icon": "circle-question"},
            {
                "label": "Summarise this page",
                "prompt": "Summarise the page I am on.",
                "icon": "document",
            },
        ],
        prompts,
        env=None,
        fallback=True,
    ),
    "COMPOSER_PLACEHOLDER": Setting("Ask the assistant…", text(), fallback=True),
    # --- Attachments (chat/attachments/, chat/assistant/converter.py) ---
    # Largest accepted file, in bytes (413 above it).
    "ATTACHMENT_MAX_BYTES": Setting(10 * 1024 * 1024, whole_number(1), INTEGER),
    # Accepted MIME types (415 otherwise); none turns attachments off. Images and PDFs are
    # checked against their signature; text/plain also takes source code files.
    "ATTACHMENT_TYPES": Setting(
        [
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
        mime_types,
        LIST,
        empty=[],
    ),
    # Most attachments one message may carry (400 above it).
    "ATTACHMENTS_PER_MESSAGE": Setting(5, whole_number(1), INTEGER),
    # How the widget uploads: "two_phase" (attachments.create, then a signed upload URL)
    # or "direct" (multipart POST to /chatkit/upload/ with the Bearer token).
    "ATTACHMENT_UPLOAD_STRATEGY": Setting(
        "two_phase", choice("two_phase", "direct"), fallback=True
    ),
    # Seconds a signed preview/download link stays valid (re-signed on every load).
    "ATTACHMENT_URL_MAX_AGE": Setting(3600, whole_number(1), INTEGER),
    # Seconds a two-phase upload URL stays valid.
    "ATTACHMENT_UPLOAD_URL_MAX_AGE": Setting(900, whole_number(1), INTEGER),
    # Largest image or PDF handed to the model inline (base64); larger ones are described.
    "ATTACHMENT_MODEL_MAX_BYTES": Setting(10 * 1024 * 1024, whole_number(0), INTEGER),
    # Longest excerpt of a text file the model sees, in characters.
    "ATTACHMENT_TEXT_MAX_CHARS": Setting(20_000, whole_number(0), INTEGER),
    # --- Retention (chat/retention/, `manage.py purge_threads --retention`) ---
    # Threads with no activity for this many days are purged by `--retention`; 0 turns
    # `--retention` off (it then refuses to run).
    "RETENTION_DAYS": Setting(90, whole_number(0), INTEGER, empty=0),
    # --- Insights (chat/review/insights.py) ---
    # US dollars per million input and output tokens, by model name, for the estimated
    # cost on the insights page; a model not listed costs 0 (shown as unpriced).
    "MODEL_PRICES": Setting(
        {
            "gpt-4.1-mini": [0.4, 1.6],
            "gpt-4.1": [2.0, 8.0],
            "gpt-4o-mini": [0.15, 0.6],
            "gpt-4o": [2.5, 10.0],
        },
        model_prices,
        JSON,
        empty={},
    ),
    # --- The protocol's optional parts (chat/chatkit/actions.py, chat/assistant/) ---
    # Widget action handlers: {"action.type": "dotted.path"}, on top of the ones registered
    # with @chat.chatkit.actions.action (and the demo's).
    "ACTIONS": Setting({}, action_handlers, JSON, empty={}),
    # Models users may pick in the composer: [{"id", "label", "provider", "description",
    # "default"}]; empty offers none (CHAT_MODEL answers).
    "MODELS": Setting([], model_choices, JSON, empty=[]),
    # Tools users may pick in the composer: [{"id", "label", "tool", "icon", ...}], `tool`
    # naming the agent tool it forces (inference_options.tool_choice).
    "COMPOSER_TOOLS": Setting(
        [
            {
                "id": "search",
                "label": "Search my conversations",
                "tool": "search_my_conversations",
                "icon": "search",
            }
        ],
        composer_tools,
        JSON,
        empty=[],
    ),
    # Speech-to-text model for dictation (input.transcribe), e.g. gpt-4o-mini-transcribe,
    # through OpenAI or CHAT_MODEL_BASE_URL's /audio/transcriptions; empty: no dictation.
    "TRANSCRIPTION_MODEL": Setting("", text(), empty=""),
    # Largest dictated recording, in bytes (413 above it; the request body limit applies too).
    "DICTATION_MAX_BYTES": Setting(700_000, whole_number(1), INTEGER),
    # @-mentions: a function (user, query) -> list of entities for the composer's tag search,
    # and one (user, entity_id) -> widget JSON or None for their previews; empty: off.
    "ENTITY_SEARCH": Setting(
        "chat.assistant.entities.search_threads",
        optional_hook("the dotted path of a callable (user, query) -> list of entities"),
        empty="",
    ),
    "ENTITY_PREVIEW": Setting(
        "chat.assistant.entities.preview_thread",
        optional_hook("the dotted path of a callable (user, entity_id) -> widget dict or None"),
        empty="",
    ),
}

# The raw defaults, by name without the prefix.
DEFAULTS: dict[str, Any] = {name: setting.default for name, setting in SETTINGS.items()}


def environment_settings(environ: Mapping[str, str]) -> dict[str, Any]:
    """The CHAT_* Django settings that the environment sets (chatsite/settings.py).

    Only variables that are set count. An empty one means what `Setting.empty` says (the
    setting's "off" or "none"; otherwise it is left out and the default applies). Text that
    does not convert is passed on as it is, for `manage.py check` to report.
    """
    values: dict[str, Any] = {}
    for name, setting in SETTINGS.items():
        variable = PREFIX + name
        if setting.env is None or variable not in environ:
            continue
        value = environ[variable]
        if value.strip():
            values[variable] = setting.env(value)
        elif setting.empty is not USE_DEFAULT:
            values[variable] = setting.empty
    return values


class AppSettings:
    """Parsed CHAT_* settings, each parsed once per value of its Django setting."""

    if TYPE_CHECKING:
        AGENT: Callable[..., Any]
        MCP_SERVERS: tuple[McpServerConfig, ...]
        MODEL: str
        MODEL_BASE_URL: str
        MODEL_TIMEOUT: float
        INSTRUCTIONS: str
        HISTORY_ITEMS: int
        MAX_REQUEST_BYTES: int
        KEEPALIVE_SECONDS: float
        DEMO_WORD_DELAY: float
        RATE_LIMIT: Rate | None
        MAX_CONCURRENT_STREAMS: int
        DAILY_TOKEN_QUOTA: int
        LIMITS_FAIL_OPEN: bool
        IMAGE_ORIGINS: tuple[str, ...]
        TURN_WAIT_SECONDS: float
        DB_POOL_SIZE: int
        CONTINUE_AFTER_DISCONNECT: bool
        TURN_LEASE_SECONDS: float
        CHECKPOINT_SECONDS: float
        SHUTDOWN_GRACE_SECONDS: float
        TITLE_MAX_CHARS: int
        CDN_URL: str
        DOMAIN_KEY: str
        WIDGET_TIMEOUT: float
        WIDGET: str
        GREETING: str
        PROMPTS: list[dict[str, str]]
        COMPOSER_PLACEHOLDER: str
        ATTACHMENT_MAX_BYTES: int
        ATTACHMENT_TYPES: tuple[str, ...]
        ATTACHMENTS_PER_MESSAGE: int
        ATTACHMENT_UPLOAD_STRATEGY: str
        ATTACHMENT_URL_MAX_AGE: int
        ATTACHMENT_UPLOAD_URL_MAX_AGE: int
        ATTACHMENT_MODEL_MAX_BYTES: int
        ATTACHMENT_TEXT_MAX_CHARS: int
        RETENTION_DAYS: int
        MODEL_PRICES: dict[str, tuple[float, float]]
        ACTIONS: dict[str, Callable[..., Any]]
        MODELS: list[dict[str, Any]]
        COMPOSER_TOOLS: list[dict[str, Any]]
        TRANSCRIPTION_MODEL: str
        DICTATION_MAX_BYTES: int
        ENTITY_SEARCH: Callable[..., Any] | None
        ENTITY_PREVIEW: Callable[..., Any] | None

    def __init__(self) -> None:
        # name -> (the raw value it was parsed from, the parsed value). A different raw
        # object (override_settings, the `settings` fixture, a deleted setting) parses anew.
        self._parsed: dict[str, tuple[Any, Any]] = {}

    def __getattr__(self, name: str) -> Any:
        if name not in SETTINGS:
            raise AttributeError(name)
        return self.load(name, strict=False)

    @property
    def OPENAI_API_KEY(self) -> str:
        return getattr(settings, "OPENAI_API_KEY", "")

    def raw(self, name: str) -> Any:
        """The Django setting CHAT_<name> as set, or the default."""
        return getattr(settings, PREFIX + name, SETTINGS[name].default)

    def load(self, name: str, *, strict: bool = True) -> Any:
        """The parsed value; raises InvalidSetting, unless `strict` is off and the setting
        falls back to its default (logged) when invalid."""
        raw = self.raw(name)
        cached = self._parsed.get(name)
        if cached is not None and cached[0] is raw:
            return cached[1]
        setting = SETTINGS[name]
        try:
            value = setting.parse(raw)
        except InvalidValue as error:
            invalid = InvalidSetting(name, raw, error)
            if strict or not setting.fallback:
                raise invalid from None
            logger.warning("%s %s Using the default, %s.", invalid.message, invalid.hint,
                           short(setting.default))
            value = setting.parse(setting.default)
        self._parsed[name] = (raw, value)
        return value

    def problems(self) -> list[InvalidSetting]:
        """Every setting that does not parse (the valid ones are parsed and kept)."""
        found = []
        for name in SETTINGS:
            try:
                self.load(name)
            except InvalidSetting as problem:
                found.append(problem)
        return found

    def unknown(self) -> list[str]:
        """CHAT_* Django settings that are none of the chat app's (typing mistakes?)."""
        known = {PREFIX + name for name in SETTINGS}
        return sorted(
            name for name in dir(settings) if name.startswith(PREFIX) and name not in known
        )


# Read by chatsite/settings.py for other apps (CORS, storage), not chat.conf settings.
OTHER_VARIABLES = {"CHAT_ALLOWED_ORIGINS", "CHAT_MEDIA_STORAGE"}


def unread_variables(environ: Mapping[str, str]) -> list[str]:
    """CHAT_* environment variables that nothing reads (typing mistakes, or CHAT_PROMPTS,
    which is a Django setting only)."""
    read = {PREFIX + name for name, setting in SETTINGS.items() if setting.env is not None}
    return sorted(
        name
        for name in environ
        if name.startswith(PREFIX) and name not in read and name not in OTHER_VARIABLES
    )


app_settings = AppSettings()
