"""CHAT_* settings: checked once at start-up, parsed once, and what an empty environment
variable means."""

import json
import logging
import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from chat.assistant.mcp import McpServerConfig
from chat.checks import check_settings
from chat.conf import DEFAULTS, app_settings, environment_settings
from chat.setting_parsers import Rate
from tests.instances import ROOT, free_port

MCP = {"name": "docs", "url": "https://docs.example.com/mcp"}


@pytest.fixture(autouse=True)
def no_chat_variables(monkeypatch):
    """The check also warns about unread CHAT_* variables: none from the caller's shell."""
    for name in list(os.environ):
        if name.startswith("CHAT_"):
            monkeypatch.delenv(name)


def errors() -> list[tuple[str, str, str]]:
    """(id, message, hint) of every message the chat app's check reports."""
    return [(message.id, message.msg, message.hint or "") for message in check_settings()]


def test_the_defaults_pass_the_check():
    assert errors() == []
    call_command("check")  # raises SystemCheckError on any error


@pytest.mark.parametrize(
    ("name", "value", "check_id", "fragment"),
    [
        ("RATE_LIMIT", "banana", "chat.E004", "CHAT_RATE_LIMIT='banana' is not a rate"),
        ("RATE_LIMIT", "5/0s", "chat.E004", "is not a rate"),
        ("RATE_LIMIT", 20, "chat.E004", "is an int, not a rate"),
        ("WIDGET", "fancy", "chat.E003", "CHAT_WIDGET='fancy' is not one of auto, builtin"),
        ("WIDGET", None, "chat.E003", "is not one of"),
        ("MCP_SERVERS", MCP, "chat.E005", "is a dict, not a list"),
        ("MCP_SERVERS", "[oops", "chat.E005", "is not JSON"),
        ("MCP_SERVERS", [{"url": MCP["url"]}], "chat.E005", "'name' must be a non-empty string"),
        ("MCP_SERVERS", [{"name": "docs", "url": "ftp://x"}], "chat.E005", "needs an http(s)"),
        ("MCP_SERVERS", [{**MCP, "timout": 3}], "chat.E005", "unknown keys 'timout'"),
        ("MCP_SERVERS", [{**MCP, "headers": {"X-Key": 1}}], "chat.E005", "'headers' must map"),
        ("MCP_SERVERS", [{**MCP, "timeout": -1}], "chat.E005", "'timeout' must be above 0"),
        ("MCP_SERVERS", [{**MCP, "timeout": "5"}], "chat.E005", "a number of seconds"),
        ("MCP_SERVERS", [MCP, MCP], "chat.E005", "names docs more than once"),
        ("MCP_SERVERS", ["docs"], "chat.E005", "has a bad entry [0]"),
        ("MAX_CONCURRENT_STREAMS", -1, "chat.E002", "CHAT_MAX_CONCURRENT_STREAMS=-1 is negative"),
        ("DAILY_TOKEN_QUOTA", -100, "chat.E002", "is negative"),
        ("HISTORY_ITEMS", 0, "chat.E002", "is below the minimum of 1"),
        ("MAX_REQUEST_BYTES", -1, "chat.E002", "is negative"),
        ("ATTACHMENT_MAX_BYTES", 0, "chat.E002", "is below the minimum of 1"),
        ("ATTACHMENTS_PER_MESSAGE", -2, "chat.E002", "is negative"),
        ("ATTACHMENT_URL_MAX_AGE", -60, "chat.E002", "is negative"),
        ("RETENTION_DAYS", -1, "chat.E002", "is negative"),
        ("MODEL_TIMEOUT", -1.5, "chat.E002", "is negative"),
        ("KEEPALIVE_SECONDS", 0, "chat.E002", "is 0"),
        ("TURN_WAIT_SECONDS", float("inf"), "chat.E002", "is not a finite number"),
        ("WIDGET_TIMEOUT", -3, "chat.E002", "is negative"),
        ("ATTACHMENT_UPLOAD_STRATEGY", "ftp", "chat.E003", "is not one of two_phase, direct"),
        ("ATTACHMENT_TYPES", ["image/png", "banana"], "chat.E006", "'banana', not a MIME type"),
        ("ATTACHMENT_TYPES", ["image/pngg"], "chat.E006", "the unknown MIME type 'image/pngg'"),
        ("ATTACHMENT_TYPES", ["image/*"], "chat.E006", "not a MIME type"),
        ("ATTACHMENT_TYPES", "image/png", "chat.E006", "is a str, not a list"),
        ("AGENT", "no.such.module.build", "chat.E007", "cannot be imported"),
        ("AGENT", "chat.conf.PREFIX", "chat.E007", "is not callable"),
        ("AGENT", None, "chat.E007", "not a dotted path"),
        ("HISTORY_ITEMS", "40", "chat.E001", "CHAT_HISTORY_ITEMS='40' is a str, not a whole"),
        ("HISTORY_ITEMS", 4.5, "chat.E001", "is a float, not a whole number"),
        ("MAX_CONCURRENT_STREAMS", True, "chat.E001", "is a bool, not a whole number"),
        ("MODEL_TIMEOUT", "60", "chat.E001", "is a str, not a number"),
        ("GREETING", ["Hi"], "chat.E001", "is a list, not a string"),
        ("MODEL", "", "chat.E002", "is empty"),
        ("PROMPTS", [{"label": "Help"}], "chat.E008", "has a bad entry [0]"),
        ("PROMPTS", "What can you do?", "chat.E008", "is a str, not a list"),
        ("CDN_URL", "cdn.example.com/chatkit.js", "chat.E009", "is not an absolute http(s) URL"),
        ("MODEL_BASE_URL", "localhost:11434", "chat.E009", "is not an absolute http(s) URL"),
        ("MODEL_PRICES", {"gpt-4.1-mini": [0.4]}, "chat.E010", "has a bad entry 'gpt-4.1-mini'"),
        ("MODEL_PRICES", [0.4, 1.6], "chat.E010", "is a list, not a mapping"),
        ("ACTIONS", {"bad type!": "tests.agent_factories.hello_action"}, "chat.E011",
         "has a bad action type"),
        ("ACTIONS", {"tests.hello": "chat.conf.PREFIX"}, "chat.E011",
         "chat.conf.PREFIX is not callable"),
        ("MODELS", [{"id": "fast"}], "chat.E012", "has a bad entry [0]"),
        ("MODELS", [{"id": "a", "label": "A", "provider": "acme"}], "chat.E012",
         "has an unknown provider 'acme'"),
        ("MODELS", [{"id": "a", "label": "A", "default": True},
                    {"id": "b", "label": "B", "default": True}], "chat.E012",
         "marks more than one model as the default"),
        ("COMPOSER_TOOLS", [{"id": "search", "label": "Search"}], "chat.E013",
         "has a bad entry [0]"),
        ("COMPOSER_TOOLS", [{"id": "s", "label": "S", "tool": "t"}] * 2, "chat.E013",
         "names 's' twice"),
        ("ENTITY_SEARCH", "no.such.module.search", "chat.E014", "cannot be imported"),
    ],
)
def test_a_bad_setting_fails_the_check_naming_it(settings, name, value, check_id, fragment):
    setattr(settings, f"CHAT_{name}", value)

    [(found_id, message, hint)] = errors()

    assert found_id == check_id
    assert message.startswith(f"CHAT_{name}=")
    assert fragment in message
    assert hint.startswith("Expected ")


def test_manage_py_check_fails_with_the_message(settings):
    settings.CHAT_RATE_LIMIT = "banana"

    with pytest.raises(SystemCheckError) as failure:
        call_command("check")

    report = str(failure.value)
    assert "(chat.E004) CHAT_RATE_LIMIT='banana' is not a rate." in report
    assert "HINT: Expected a number of messages per period like '20/min'" in report


def test_every_bad_setting_is_reported_at_once(settings):
    settings.CHAT_RATE_LIMIT = "banana"
    settings.CHAT_WIDGET = "fancy"
    settings.CHAT_MAX_CONCURRENT_STREAMS = -1

    assert sorted(found_id for found_id, _, _ in errors()) == [
        "chat.E002",
        "chat.E003",
        "chat.E004",
    ]


def test_an_unknown_chat_setting_is_a_warning(settings):
    settings.CHAT_RATELIMIT = "5/min"

    messages = check_settings()

    assert [(message.id, message.is_serious()) for message in messages] == [("chat.W001", False)]
    assert "CHAT_RATELIMIT is not a setting of the chat app" in messages[0].msg


def test_an_environment_variable_nothing_reads_is_a_warning(monkeypatch):
    monkeypatch.setenv("CHAT_RATELIMIT", "5/min")
    monkeypatch.setenv("CHAT_PROMPTS", "[]")

    messages = {message.msg: message.hint for message in check_settings()}

    assert messages == {
        "The environment variable CHAT_PROMPTS is not read by this site.":
            "It is a Django setting only: set it in the settings module.",
        "The environment variable CHAT_RATELIMIT is not read by this site.":
            "Check its spelling against the README's settings table.",
    }


@pytest.mark.parametrize(
    ("name", "value", "parsed"),
    [
        ("RATE_LIMIT", "20/min", Rate(20, 60)),
        ("RATE_LIMIT", "5 / 10s", Rate(5, 10)),
        ("RATE_LIMIT", "500/day", Rate(500, 86400)),
        ("RATE_LIMIT", "0/min", None),
        ("RATE_LIMIT", "", None),
        ("RATE_LIMIT", None, None),
        ("WIDGET", " ChatKit ", "chatkit"),
        ("ATTACHMENT_TYPES", ["Image/PNG", "text/plain", "image/png"], ("image/png", "text/plain")),
        ("ATTACHMENT_TYPES", [], ()),
        ("MCP_SERVERS", [MCP], (McpServerConfig("docs", MCP["url"], {}, 10.0),)),
        ("MCP_SERVERS", [{**MCP, "headers": {"X-Key": "k"}, "timeout": 3}],
         (McpServerConfig("docs", MCP["url"], {"X-Key": "k"}, 3.0),)),
        ("MODEL_TIMEOUT", 5, 5.0),
        ("MODEL_BASE_URL", "", ""),
    ],
)
def test_values_are_parsed_and_typed(settings, name, value, parsed):
    setattr(settings, f"CHAT_{name}", value)

    assert errors() == []
    assert getattr(app_settings, name) == parsed


def test_the_agent_setting_is_the_imported_factory(settings):
    from tests.agent_factories import pirate_factory

    settings.CHAT_AGENT = "tests.agent_factories.pirate_factory"

    assert app_settings.AGENT is pirate_factory


def test_a_value_made_invalid_after_start_up_fails_loudly(settings):
    settings.CHAT_RATE_LIMIT = "banana"

    with pytest.raises(ImproperlyConfigured, match=r"CHAT_RATE_LIMIT='banana' is not a rate"):
        app_settings.RATE_LIMIT  # noqa: B018


def test_a_page_setting_made_invalid_after_start_up_falls_back_with_a_warning(settings, caplog):
    settings.CHAT_GREETING = ["Hi"]

    with caplog.at_level(logging.WARNING, logger="chat.conf"):
        assert app_settings.GREETING == DEFAULTS["GREETING"]

    assert "CHAT_GREETING=['Hi'] is a list, not a string" in caplog.text


# --- Parsed once -------------------------------------------------------------------------


def count_parses(monkeypatch, owner: type) -> list:
    """Records what `owner.parse` (a classmethod) is called with from now on."""
    calls = []
    real_parse = owner.parse.__func__

    def counting_parse(cls, raw):
        calls.append(raw)
        return real_parse(cls, raw)

    monkeypatch.setattr(owner, "parse", classmethod(counting_parse))
    return calls


def test_a_parsed_value_is_the_same_object_until_the_setting_changes(settings):
    settings.CHAT_MCP_SERVERS = [MCP]
    first = app_settings.MCP_SERVERS

    assert app_settings.MCP_SERVERS is first
    settings.CHAT_MCP_SERVERS = [{**MCP, "name": "other"}]
    assert [config.name for config in app_settings.MCP_SERVERS] == ["other"]
    del settings.CHAT_MCP_SERVERS
    assert app_settings.MCP_SERVERS == ()


def test_the_check_parses_the_values_the_requests_then_use(settings, monkeypatch):
    parses = count_parses(monkeypatch, Rate)
    settings.CHAT_RATE_LIMIT = "7/min"

    assert errors() == []
    assert app_settings.RATE_LIMIT == Rate(7, 60)
    assert parses == ["7/min"]


@pytest.mark.django_db(transaction=True)
async def test_the_rate_limit_is_parsed_once_not_per_message(alice_chat, settings, monkeypatch):
    parses = count_parses(monkeypatch, Rate)
    settings.CHAT_RATE_LIMIT = "5/min"

    thread_id, _ = await alice_chat.create_thread("one")
    await alice_chat.send(thread_id, "two")
    await alice_chat.send(thread_id, "three")

    assert parses == ["5/min"]


@pytest.mark.django_db(transaction=True)
async def test_mcp_servers_are_parsed_once_not_per_turn(alice_chat, settings, monkeypatch):
    parses = count_parses(monkeypatch, McpServerConfig)
    settings.CHAT_MCP_SERVERS = [
        {"name": "inventory", "url": f"http://127.0.0.1:{free_port()}/mcp", "timeout": 2}
    ]

    thread_id, events = await alice_chat.create_thread("one")
    await alice_chat.send(thread_id, "two")

    assert any(event["type"] == "notice" for event in events)  # the server was tried
    assert [raw["name"] for raw in parses] == ["inventory"]


@pytest.mark.django_db
def test_a_bad_widget_setting_is_reported_once_not_per_page(client, alice, settings, caplog):
    settings.CHAT_WIDGET = "fancy"
    client.force_login(alice)

    with caplog.at_level(logging.WARNING, logger="chat.conf"):
        for _ in range(3):
            assert client.get("/").status_code == 200

    assert caplog.text.count("CHAT_WIDGET='fancy' is not one of") == 1


# --- The environment ---------------------------------------------------------------------


def test_an_empty_variable_means_off_or_none_where_the_setting_has_one():
    environ = {
        "CHAT_RATE_LIMIT": "",
        "CHAT_MAX_CONCURRENT_STREAMS": "",
        "CHAT_DAILY_TOKEN_QUOTA": " ",
        "CHAT_RETENTION_DAYS": "",
        "CHAT_MCP_SERVERS": "",
        "CHAT_ATTACHMENT_TYPES": "",
        "CHAT_MODEL_BASE_URL": "",
        # No "off" for these: empty is the same as unset.
        "CHAT_HISTORY_ITEMS": "",
        "CHAT_MODEL": "",
        "CHAT_WIDGET": "",
        "CHAT_AGENT": "",
    }

    assert environment_settings(environ) == {
        "CHAT_RATE_LIMIT": "",
        "CHAT_MAX_CONCURRENT_STREAMS": 0,
        "CHAT_DAILY_TOKEN_QUOTA": 0,
        "CHAT_RETENTION_DAYS": 0,
        "CHAT_MCP_SERVERS": [],
        "CHAT_ATTACHMENT_TYPES": [],
        "CHAT_MODEL_BASE_URL": "",
    }


def test_variables_are_converted_and_bad_text_is_kept_for_the_check():
    environ = {
        "CHAT_TITLE_MAX_CHARS": "80",
        "CHAT_MODEL_TIMEOUT": "2.5",
        "CHAT_ATTACHMENT_TYPES": "image/png, text/plain,",
        "CHAT_MCP_SERVERS": json.dumps([MCP]),
        "CHAT_HISTORY_ITEMS": "forty",
        "CHAT_PROMPTS": "[]",  # a Django setting only
        "OTHER": "1",
    }

    assert environment_settings(environ) == {
        "CHAT_TITLE_MAX_CHARS": 80,
        "CHAT_MODEL_TIMEOUT": 2.5,
        "CHAT_ATTACHMENT_TYPES": ["image/png", "text/plain"],
        "CHAT_MCP_SERVERS": [MCP],
        "CHAT_HISTORY_ITEMS": "forty",
    }


def run_site(*args: str, **variables: str) -> subprocess.CompletedProcess:
    """`python *args` in a fresh process whose CHAT_* variables are `variables` only."""
    environ = {name: value for name, value in os.environ.items() if not name.startswith("CHAT_")}
    environ.update(
        DJANGO_SETTINGS_MODULE="chatsite.settings", DEBUG="1", PYTHONPATH=str(ROOT), **variables
    )
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, cwd=ROOT, env=environ,
        timeout=120,
    )


READ_SETTINGS = """
import json, django
django.setup()
from chat.conf import app_settings as s
print(json.dumps({
    "rate": s.RATE_LIMIT, "streams": s.MAX_CONCURRENT_STREAMS, "quota": s.DAILY_TOKEN_QUOTA,
    "retention": s.RETENTION_DAYS, "mcp": s.MCP_SERVERS, "types": s.ATTACHMENT_TYPES,
    "history": s.HISTORY_ITEMS, "model": s.MODEL, "title": s.TITLE_MAX_CHARS,
}))
"""


def test_an_empty_variable_in_the_environment_means_off_in_the_site():
    completed = run_site(
        "-c",
        READ_SETTINGS,
        CHAT_RATE_LIMIT="",
        CHAT_MAX_CONCURRENT_STREAMS="",
        CHAT_DAILY_TOKEN_QUOTA="",
        CHAT_RETENTION_DAYS="",
        CHAT_MCP_SERVERS="",
        CHAT_ATTACHMENT_TYPES="",
        CHAT_HISTORY_ITEMS="",
        CHAT_MODEL="",
        CHAT_TITLE_MAX_CHARS="80",
    )

    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout.strip().splitlines()[-1]) == {
        "rate": None,
        "streams": 0,
        "quota": 0,
        "retention": 0,
        "mcp": [],
        "types": [],
        "history": DEFAULTS["HISTORY_ITEMS"],
        "model": DEFAULTS["MODEL"],
        "title": 80,
    }


def test_manage_py_check_reports_a_bad_variable_and_exits_non_zero():
    bad = run_site("manage.py", "check", CHAT_RATE_LIMIT="banana", CHAT_HISTORY_ITEMS="x")
    good = run_site("manage.py", "check", CHAT_RATE_LIMIT="")

    assert bad.returncode == 1
    assert "(chat.E004) CHAT_RATE_LIMIT='banana' is not a rate." in bad.stderr
    assert "(chat.E001) CHAT_HISTORY_ITEMS='x' is a str, not a whole number." in bad.stderr
    assert good.returncode == 0, good.stderr
