"""`{% chat_widget %}`: the floating chat on every page of the site.

Logged-in users get the launcher, the panel and the widget's configuration as a
`json_script` block that static/chat/main.js reads; anonymous visitors get a "Log in to
chat" link. Everything the page needs from the server is decided here, so the JavaScript
holds no settings of its own.
"""

from typing import Any
from urllib.parse import urlencode

from django import template
from django.conf import settings
from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.shortcuts import resolve_url
from django.urls import reverse
from django.utils.translation import get_language, gettext, gettext_lazy, gettext_noop

from chat.assistant import dictation, entities
from chat.assistant.choices import composer_models, composer_tools
from chat.attachments.policy import composer_attachment_options
from chat.conf import SETTINGS, app_settings
from chat.context import PAGE_LIMITS
from chat.limits import has_daily_quota
from chat.models import Thread, ThreadItem

register = template.Library()


def upload_strategy_option(request: HttpRequest) -> dict[str, Any]:
    """ChatKit JS `api.uploadStrategy`, as configured by CHAT_ATTACHMENT_UPLOAD_STRATEGY."""
    if app_settings.ATTACHMENT_UPLOAD_STRATEGY == "direct":
        url = request.build_absolute_uri(reverse("chatkit-upload"))
        return {"type": "direct", "uploadUrl": url}
    return {"type": "two_phase"}


def api_options(request: HttpRequest) -> dict[str, Any]:
    """ChatKit's `api` option without `fetch` (the page adds it); the page passes every
    key through."""
    return {
        "url": reverse("chatkit"),
        "domainKey": app_settings.DOMAIN_KEY,
        "uploadStrategy": upload_strategy_option(request),
    }


# The default texts of CHAT_GREETING, CHAT_PROMPTS, CHAT_COMPOSER_PLACEHOLDER and
# CHAT_COMPOSER_TOOLS, marked for translation: while a site keeps them they are shown in the
# page's language; a site's own text is shown as written.
DEFAULT_TEXTS = frozenset(
    {
        gettext_noop("How can I help you today?"),
        gettext_noop("Ask the assistant…"),
        gettext_noop("What can you do?"),
        gettext_noop("Summarise this page"),
        gettext_noop("Summarise the page I am on."),
        gettext_noop("Search my conversations"),
    }
)


def translated(text: str) -> str:
    return gettext(text) if text in DEFAULT_TEXTS else text


def start_prompts() -> list[dict[str, Any]]:
    return [
        {
            **prompt,
            **{key: translated(prompt[key]) for key in ("label", "prompt") if key in prompt},
        }
        for prompt in app_settings.PROMPTS
    ]


def chatkit_options(request: HttpRequest) -> dict[str, Any]:
    """The JSON part of ChatKit's options, from settings.

    The page adds what only it knows (`api.fetch`, `theme`, `initialThread`) and always
    hands ChatKit the full set, because `setOptions` replaces rather than merges.
    """
    return {
        "api": api_options(request),
        "frameTitle": "Chat with the assistant",
        "history": {"enabled": True, "showDelete": True, "showRename": True},
        "startScreen": {
            "greeting": translated(app_settings.GREETING),
            "prompts": start_screen_prompts(),
        },
        "composer": composer_options(),
        "threadItemActions": {"feedback": True, "retry": True},
        "locale": chatkit_locale(),
    }


# What the offline demo can show (chat/assistant/demo_model.py reacts to these phrases, in
# English and in French): labels and prompts are shown and sent in the page's language.
DEMO_PROMPTS = [
    {
        "label": gettext_lazy("Show me a widget"),
        "prompt": gettext_lazy("Show me a widget"),
        "icon": "sparkle",
    },
    {
        "label": gettext_lazy("Change the page's theme"),
        "prompt": gettext_lazy("Switch to dark mode"),
        "icon": "lightbulb",
    },
    {
        "label": gettext_lazy("Let's celebrate"),
        "prompt": gettext_lazy("Let's celebrate!"),
        "icon": "confetti",
    },
    {
        "label": gettext_lazy("Run a long task"),
        "prompt": gettext_lazy("Run a long task"),
        "icon": "bolt",
    },
    {
        "label": gettext_lazy("Cite a source"),
        "prompt": gettext_lazy("Cite a source about Django"),
        "icon": "book-open",
    },
    {
        "label": gettext_lazy("Ask me a question"),
        "prompt": gettext_lazy("Ask me a question"),
        "icon": "circle-question",
    },
]


def demo_prompts() -> list[dict[str, str]]:
    """DEMO_PROMPTS in the current language, as plain strings for the JSON options."""
    return [{key: str(value) for key, value in prompt.items()} for prompt in DEMO_PROMPTS]


def offline_demo() -> bool:
    """No provider is configured: the offline demo model answers."""
    return not (app_settings.OPENAI_API_KEY or app_settings.MODEL_BASE_URL)


def start_screen_prompts() -> list[dict[str, str]]:
    """CHAT_PROMPTS; offline, with the site's prompts left at their default, the demo's
    prompts too, so the start screen shows off what the demo can do."""
    prompts = start_prompts()
    if offline_demo() and app_settings.raw("PROMPTS") is SETTINGS["PROMPTS"].default:
        prompts += demo_prompts()
    return prompts


def composer_options() -> dict[str, Any]:
    """ChatKit's `composer`: attachments, and the model picker, tool menu and microphone
    only when there is something to pick (CHAT_MODELS, CHAT_COMPOSER_TOOLS) or dictation
    can work (chat/assistant/dictation.py)."""
    options: dict[str, Any] = {
        "placeholder": translated(app_settings.COMPOSER_PLACEHOLDER),
        "attachments": composer_attachment_options(),
    }
    if models := composer_models():
        options["models"] = models
    if tools := composer_tools():
        options["tools"] = [{**tool, "label": translated(tool["label"])} for tool in tools]
    if dictation.available():
        options["dictation"] = {"enabled": True}
    return options


def chatkit_locale() -> str:
    """ChatKit's `locale` from Django's active language: its language code ("fr" for
    fr-ca), which ChatKit takes, and zh-Hant for traditional Chinese."""
    language = (get_language() or settings.LANGUAGE_CODE).lower()
    if language.startswith(("zh-hant", "zh-tw", "zh-hk")):
        return "zh-Hant"
    return language.split("-")[0]


def entity_urls() -> dict[str, str] | None:
    """Where the page searches @-mentions and asks for previews (None: mentions off)."""
    if not entities.enabled():
        return None
    return {"search": reverse("chatkit-entities"), "preview": reverse("chatkit-entity-preview")}


ATTACHMENT_ID_PLACEHOLDER = "__id__"
THREAD_ID_PLACEHOLDER = "__thread__"
ITEM_ID_PLACEHOLDER = "__item__"
# Room in a request for everything but the message text: the envelope, attachment ids, the
# page context (bounded by PAGE_LIMITS).
REQUEST_OVERHEAD_BYTES = 16 * 1024


def message_max_bytes() -> int:
    """The longest message text (UTF-8 bytes) a request can carry under MAX_REQUEST_BYTES."""
    return max(1, app_settings.MAX_REQUEST_BYTES - REQUEST_OVERHEAD_BYTES)


# The live-sync websocket (routed in chatsite/asgi.py, not by Django's URLconf).
LIVE_PATH = "/ws/chat/"
# Items the built-in client never shows: the SDK's context for the model and the marker
# at the end of a turn.
HIDDEN_ITEM_TYPES = ThreadItem.INTERNAL_TYPES | {"end_of_turn"}


def widget_config(request: HttpRequest) -> dict[str, Any]:
    """Everything static/chat/main.js needs to run the chat for the logged-in user."""
    return {
        # Part of the localStorage keys, so two users of one browser never share a thread.
        "userId": str(request.user.pk),
        "tokenUrl": reverse("token_session"),
        # get_token also makes sure the CSRF cookie is set for the token exchange.
        "csrfToken": get_token(request),
        "csrfCookieName": settings.CSRF_COOKIE_NAME,
        # Which client the panel runs (static/chat/choose-client.js decides with it).
        "widget": app_settings.WIDGET,
        "cdnUrl": app_settings.CDN_URL,
        "widgetTimeout": app_settings.WIDGET_TIMEOUT,
        # Where the built-in client links a sent file (the owner's session may read it):
        # the placeholder stands for the attachment's id.
        "attachmentUrl": reverse("chatkit-attachment", args=[ATTACHMENT_ID_PLACEHOLDER]),
        "attachmentIdPlaceholder": ATTACHMENT_ID_PLACEHOLDER,
        # A thread's running answer: stop it, or resume it (server-sent events); the
        # placeholder stands for the thread's id.
        "turnUrls": {
            "stop": reverse("chatkit-stop", args=[THREAD_ID_PLACEHOLDER]),
            "resume": reverse("chatkit-resume", args=[THREAD_ID_PLACEHOLDER]),
        },
        "threadIdPlaceholder": THREAD_ID_PLACEHOLDER,
        # The built-in client's extras (chat/chatkit/client_state.py): search the threads,
        # an open thread's votes and cut answers, undo a vote, edit a sent message.
        "clientUrls": {
            "search": reverse("chatkit-thread-search"),
            "itemStates": reverse("chatkit-item-states", args=[THREAD_ID_PLACEHOLDER]),
            "feedback": reverse(
                "chatkit-item-feedback", args=[THREAD_ID_PLACEHOLDER, ITEM_ID_PLACEHOLDER]
            ),
            "edit": reverse("chatkit-item-edit", args=[THREAD_ID_PLACEHOLDER, ITEM_ID_PLACEHOLDER]),
        },
        "itemIdPlaceholder": ITEM_ID_PLACEHOLDER,
        # The most a message may hold (UTF-8 bytes of its JSON text): the composer counts
        # against it instead of meeting a 413 after sending.
        "messageMaxBytes": message_max_bytes(),
        # The full-page chat, for the panel's "expand" control.
        "fullPageUrl": reverse("chat-page"),
        # Live sync between the user's tabs: notices about threads and turns.
        "liveUrl": LIVE_PATH,
        # The server's own bounds, so the page holds no copies: how much of the page context
        # it keeps (the page cuts a quoted selection to it), the longest thread title.
        "pageLimits": dict(PAGE_LIMITS),
        "titleMaxLength": Thread._meta.get_field("title").max_length,
        # Thread items the built-in client does not show.
        "hiddenItemTypes": sorted(HIDDEN_ITEM_TYPES),
        # Origins Markdown images may load from besides this site (CHAT_IMAGE_ORIGINS);
        # static/chat/builtin/markdown.js drops any other image.
        "imageOrigins": list(app_settings.IMAGE_ORIGINS),
        # The user's limits and what is left of them (GET, Bearer): chat/limits.py.
        "limitsUrl": reverse("chatkit-limits"),
        # Whether the panel shows the remaining daily tokens (static/chat/allowance.js).
        "showAllowance": has_daily_quota(request.user.pk),
        # @-mention search and previews (static/chat/client-tools.js); null when off.
        "entityUrls": entity_urls(),
        "chatkit": chatkit_options(request),
    }


def login_link(request: HttpRequest) -> str:
    """The login page, coming back to this page afterwards; empty on the login page itself."""
    login_url = resolve_url(settings.LOGIN_URL)
    if request.path == login_url:
        return ""
    return f"{login_url}?{urlencode({'next': request.get_full_path()})}"


@register.inclusion_tag("chat/widget.html", takes_context=True)
def chat_widget(context: template.Context, full_page: bool = False) -> dict[str, Any]:
    """The launcher and the floating panel; with `full_page`, the same chat filling the
    page (/chat/), always open."""
    request = context.get("request")
    if request is None:
        return {}
    if not request.user.is_authenticated:
        return {"login_url": login_link(request)}
    return {"config": widget_config(request), "full_page": full_page}
