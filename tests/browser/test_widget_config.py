"""What the server renders for the chat widget, without a browser: the login link for
visitors, and for users a configuration that follows the settings."""

import json
import re
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.urls import resolve, reverse

from chat.attachments.policy import composer_attachment_options
from chat.context import PAGE_LIMITS
from chat.models import Thread, ThreadItem

pytestmark = pytest.mark.django_db

CONFIG_SCRIPT = re.compile(r'<script id="chat-config" type="application/json">(.*?)</script>', re.S)


def chat_config(html: str) -> dict | None:
    match = CONFIG_SCRIPT.search(html)
    return json.loads(match.group(1)) if match else None


@pytest.mark.parametrize("path", ["/", "/about/"])
def test_visitor_gets_a_login_link_back_to_the_page_and_no_chat(client: Client, path: str):
    html = client.get(path).content.decode()

    login_url = f"/accounts/login/?{urlencode({'next': path})}"
    assert f'<a class="chat-login-link" href="{login_url}">Log in to chat</a>' in html
    assert chat_config(html) is None
    assert 'id="chat-launcher"' not in html


def test_login_page_does_not_offer_a_link_to_itself(client: Client):
    html = client.get("/accounts/login/").content.decode()

    assert "Log in to chat" not in html


def test_user_gets_launcher_and_config_from_settings(client: Client, alice, settings):
    settings.CHAT_CDN_URL = "https://cdn.example.test/chatkit.js"
    settings.CHAT_DOMAIN_KEY = "domain_pk_example"
    settings.CHAT_WIDGET_TIMEOUT = 4
    settings.CHAT_GREETING = "Hi there"
    settings.CHAT_PROMPTS = [{"label": "Help", "prompt": "Help me", "icon": "lifesaver"}]
    settings.CHAT_COMPOSER_PLACEHOLDER = "Type here"
    client.force_login(alice)

    html = client.get("/about/").content.decode()
    config = chat_config(html)

    assert 'id="chat-launcher"' in html and 'aria-label="Open chat"' in html
    assert "Log in to chat" not in html
    assert config["userId"] == str(alice.pk)
    assert config["tokenUrl"] == "/api/token/session/"
    assert config["csrfToken"]
    assert config["cdnUrl"] == "https://cdn.example.test/chatkit.js"
    assert config["widgetTimeout"] == 4
    assert config["chatkit"]["api"]["url"] == "/chatkit/"
    assert config["chatkit"]["api"]["domainKey"] == "domain_pk_example"
    assert {**config["chatkit"], "api": None} == {
        "api": None,
        "frameTitle": "Chat with the assistant",
        "history": {"enabled": True, "showDelete": True, "showRename": True},
        "startScreen": {
            "greeting": "Hi there",
            "prompts": [{"label": "Help", "prompt": "Help me", "icon": "lifesaver"}],
        },
        "composer": {
            "placeholder": "Type here",
            "attachments": composer_attachment_options(),
            "tools": [{"id": "search", "label": "Search my conversations", "icon": "search"}],
        },
        "threadItemActions": {"feedback": True, "retry": True},
        "locale": "en",
    }


def test_config_cannot_break_out_of_its_script_tag(client: Client, alice, settings):
    settings.CHAT_GREETING = "</script><script>alert(1)</script>"
    client.force_login(alice)

    html = client.get("/").content.decode()

    assert "<script>alert(1)" not in html
    assert chat_config(html)["chatkit"]["startScreen"]["greeting"] == settings.CHAT_GREETING


def test_config_carries_the_servers_own_limits_so_the_page_keeps_no_copies(
    client: Client, alice
):
    client.force_login(alice)

    config = chat_config(client.get("/").content.decode())

    assert config["pageLimits"] == PAGE_LIMITS
    assert config["titleMaxLength"] == Thread._meta.get_field("title").max_length
    assert set(config["hiddenItemTypes"]) == ThreadItem.INTERNAL_TYPES | {"end_of_turn"}
    link = config["attachmentUrl"].replace(config["attachmentIdPlaceholder"], "att_1")
    assert link == reverse("chatkit-attachment", args=["att_1"])


def test_config_names_the_turn_endpoints_and_the_live_sync_socket(client: Client, alice):
    client.force_login(alice)

    config = chat_config(client.get("/").content.decode())

    def url(name: str) -> str:
        return config["turnUrls"][name].replace(config["threadIdPlaceholder"], "thr_1")

    assert resolve(url("stop")).url_name == "chatkit-stop"
    assert resolve(url("resume")).url_name == "chatkit-resume"
    assert url("stop") == reverse("chatkit-stop", args=["thr_1"])
    # The websocket is routed by chatsite/asgi.py; tests/browser/test_live.py connects to it.
    assert config["liveUrl"] == "/ws/chat/"


# --- the protocol's options follow the settings ------------------------------------------


def test_composer_offers_models_tools_and_dictation_only_when_configured(
    client: Client, alice, settings
):
    settings.CHAT_MODELS = [
        {"id": "fast", "label": "Fast", "provider": "demo"},
        {"id": "smart", "label": "Smart", "description": "Slower", "default": True},
    ]
    settings.CHAT_COMPOSER_TOOLS = [
        {"id": "t1", "label": "Time", "tool": "current_time", "icon": "clock", "shortLabel": "T"}
    ]
    client.force_login(alice)

    composer = chat_config(client.get("/").content.decode())["chatkit"]["composer"]

    assert composer["models"] == [
        {"id": "fast", "label": "Fast"},
        {"id": "smart", "label": "Smart", "description": "Slower", "default": True},
    ]
    assert composer["tools"] == [{"id": "t1", "label": "Time", "icon": "clock", "shortLabel": "T"}]
    assert "dictation" not in composer  # no transcription model: the microphone cannot work

    settings.CHAT_TRANSCRIPTION_MODEL = "gpt-4o-mini-transcribe"
    assert "dictation" not in chat_config(client.get("/").content.decode())["chatkit"]["composer"]
    settings.OPENAI_API_KEY = "sk-test"
    composer = chat_config(client.get("/").content.decode())["chatkit"]["composer"]
    assert composer["dictation"] == {"enabled": True}


def test_no_models_and_no_tools_offer_no_pickers(client: Client, alice, settings):
    settings.CHAT_COMPOSER_TOOLS = []
    client.force_login(alice)

    composer = chat_config(client.get("/").content.decode())["chatkit"]["composer"]

    assert "models" not in composer and "tools" not in composer


def test_entity_endpoints_are_named_only_when_mentions_are_on(client: Client, alice, settings):
    client.force_login(alice)

    config = chat_config(client.get("/").content.decode())
    assert config["entityUrls"] == {
        "search": reverse("chatkit-entities"),
        "preview": reverse("chatkit-entity-preview"),
    }

    settings.CHAT_ENTITY_SEARCH = ""
    assert chat_config(client.get("/").content.decode())["entityUrls"] is None


@pytest.mark.parametrize(
    "language, locale", [("fr", "fr"), ("de-at", "de"), ("zh-hant", "zh-Hant"), ("en-us", "en")]
)
def test_locale_follows_the_active_language(client: Client, alice, settings, language, locale):
    settings.LANGUAGE_CODE = language
    client.force_login(alice)

    assert chat_config(client.get("/").content.decode())["chatkit"]["locale"] == locale


def test_offline_the_start_screen_shows_off_the_demo(client: Client, alice, settings):
    client.force_login(alice)

    prompts = chat_config(client.get("/").content.decode())["chatkit"]["startScreen"]["prompts"]
    assert {"Show me a widget", "Switch to dark mode", "Ask me a question"} <= {
        prompt["prompt"] for prompt in prompts
    }

    settings.OPENAI_API_KEY = "sk-test"
    prompts = chat_config(client.get("/").content.decode())["chatkit"]["startScreen"]["prompts"]
    assert "Show me a widget" not in {prompt["prompt"] for prompt in prompts}
