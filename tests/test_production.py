"""Production behaviour: settings, CORS, faults, and the request log."""

import json
import logging
import secrets
import subprocess
import sys
import time

import pytest
from django.conf import settings as django_settings
from django.utils.module_loading import import_string

from chat.models import ThreadItem
from tests.agent_factories import slow_lookup_endings
from tests.asgi import post_over_asgi
from tests.chatkit_client import bearer, parse_sse, user_input
from tests.fake_openai import fake_chat_completions_server
from tests.instances import ROOT, instance_environment
from tests.waits import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "chat.example.com",
    "DATABASE_URL": "sqlite:////tmp/unused.sqlite3",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=instance_environment(**env),
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION_ENV)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    result = manage("check", **{**PRODUCTION_ENV, "SECRET_KEY": ""})

    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_every_middleware_is_async_capable():
    """A sync-only middleware would push every request through one thread (see
    chatsite/middleware.py): streams then stall behind each other."""
    for path in django_settings.MIDDLEWARE:
        assert getattr(import_string(path), "async_capable", False), path


UNREACHABLE_DATABASE = """
import json, time
import django
django.setup()
from django.test import Client
client = Client()
started = time.monotonic()
health = client.get("/readyz/")
chat = client.post("/chatkit/", '{"type": "threads.list", "params": {}}',
                   content_type="application/json", headers={"Authorization": "Bearer %s"})
print(json.dumps({
    "health": [health.status_code, health["Content-Type"], health.content.decode()],
    "chat": [chat.status_code, chat["Content-Type"], chat.content.decode()],
    "seconds": time.monotonic() - started,
}))
"""


def test_an_unreachable_database_gives_503_json_quickly(alice):
    token = bearer(alice)["Authorization"].split()[1]
    result = subprocess.run(
        [sys.executable, "-c", UNREACHABLE_DATABASE % token],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=instance_environment(DATABASE_URL="postgres://postgres@127.0.0.1:1/nowhere"),
        timeout=60,
    )
    outcome = json.loads(result.stdout.strip().splitlines()[-1])

    for status, content_type, body in (outcome["health"], outcome["chat"]):
        assert status == 503
        assert content_type == "application/json"
        assert "Traceback" not in body
    assert outcome["seconds"] < 10


@pytest.mark.parametrize(
    "origin, allowed", [("https://docs.example.com", True), ("https://evil.example", False)]
)
async def test_cors_allows_only_configured_origins(async_client, settings, origin, allowed):
    settings.CORS_ALLOWED_ORIGINS = ["https://docs.example.com"]
    preflight = await async_client.options(
        "/chatkit/",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )

    granted = preflight.get("Access-Control-Allow-Origin")
    assert (granted == origin) is allowed
    if allowed:
        assert "authorization" in preflight["Access-Control-Allow-Headers"]
        assert "Access-Control-Allow-Credentials" not in preflight


async def test_cors_applies_to_token_endpoints_not_to_pages(async_client, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://docs.example.com"]
    headers = {"Origin": "https://docs.example.com"}

    token = await async_client.post("/api/token/", {}, headers=headers)
    page = await async_client.get("/", headers=headers)

    assert token["Access-Control-Allow-Origin"] == "https://docs.example.com"
    assert not page.has_header("Access-Control-Allow-Origin")


async def test_a_hanging_provider_is_cut_off_with_an_error_event(alice_chat, settings):
    with fake_chat_completions_server() as (base_url, state):
        state.hang_seconds = 5
        settings.CHAT_MODEL_BASE_URL = base_url
        settings.CHAT_MODEL_TIMEOUT = 0.5
        started = time.monotonic()

        thread_id, events = await alice_chat.create_thread("Anyone there?")

    error = next(event for event in events if event["type"] == "error")
    assert "did not answer within 0.5 seconds" in error["message"]
    assert error["allow_retry"] is True
    assert time.monotonic() - started < 4
    kinds = [row.type async for row in ThreadItem.objects.filter(thread_id=thread_id)]
    assert kinds == ["user_message"]


async def test_a_disconnect_during_a_tool_call_leaves_a_consistent_thread(
    alice, alice_chat, settings
):
    settings.CHAT_AGENT = "tests.agent_factories.slow_tool_factory"
    settings.CHAT_CONTINUE_AFTER_DISCONNECT = False  # leaving stops the answer
    slow_lookup_endings.clear()
    body = {"type": "threads.create", "params": {"input": user_input("use slow_lookup")}}

    chunks = await post_over_asgi(alice, body, disconnect_after_chunks=4)

    events = parse_sse(b"".join(chunks))
    assert any(e["type"] == "thread.item.added" and e["item"]["type"] == "workflow"
               for e in events), "the tool call should have started before the hang-up"
    thread_id = events[0]["thread"]["id"]
    # Whatever the abandoned tool call would still write is written once it has ended.
    await wait_until(lambda: slow_lookup_endings, what="the abandoned tool call to end")
    status, page = await alice_chat.call("items.list", thread_id=thread_id, order="asc")
    assert status == 200
    # The stopped run winds down as the Agents SDK asks: ChatKit then keeps the tool call
    # that was under way, as a workflow, and nothing of an answer.
    assert [item["type"] for item in page["data"]] == ["user_message", "workflow"]
    tasks = page["data"][1]["workflow"]["tasks"]
    assert "slow_lookup" in json.dumps(tasks)
    settings.CHAT_AGENT = "chat.assistant.agent.build_agent"
    answer = await alice_chat.send(thread_id, "Still there?")
    assert answer[-1]["type"] == "thread.item.done"


async def test_one_log_line_per_request_without_message_content(
    alice_chat, alice, caplog, settings
):
    settings.CHAT_DEMO_WORD_DELAY = 0.01
    started = time.monotonic()
    with caplog.at_level(logging.INFO, logger="chat.requests"):
        thread_id, events = await alice_chat.create_thread("my private words")
        await alice_chat.call("items.list", thread_id=thread_id)
        await alice_chat.call("threads.get_by_id", thread_id="thr_missing")
    elapsed_ms = (time.monotonic() - started) * 1000

    records = [r for r in caplog.records if r.name == "chat.requests"]
    assert [r.chatkit["type"] for r in records] == [
        "threads.create", "items.list", "threads.get_by_id"
    ]
    created, listed, missing = (r.chatkit for r in records)
    assert created["user"] == alice.pk and created["thread"] == thread_id
    assert created["status"] == "200/complete" and created["output_tokens"] > 0
    assert listed["status"] == 200 and missing["status"] == 404
    # A stream is logged when it ends: its time covers every word (each waited 10 ms)...
    words = [
        e
        for e in events
        if e["type"] == "thread.item.updated" and e["update"]["type"].endswith("text_delta")
    ]
    assert created["duration_ms"] >= 10 * len(words) > 0
    # ...and no request claims more time than the test spent on all three.
    assert sum(r.chatkit["duration_ms"] for r in records) <= elapsed_ms + 2
    assert "my private words" not in caplog.text


async def test_pages_allow_the_chatkit_cdn_and_nothing_else_external(async_client, settings):
    settings.CHAT_CDN_URL = "https://cdn.example-chatkit.test/chatkit.js"

    policy = (await async_client.get("/")).get("Content-Security-Policy", "")

    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self' https://cdn.example-chatkit.test"
    assert directives["frame-src"] == "https://cdn.example-chatkit.test"
    assert directives["object-src"] == "'none'"
    external = {
        source
        for value in directives.values()
        for source in value.split()
        if source.startswith(("http:", "https:"))
    }
    assert external == {"https://cdn.example-chatkit.test"}
    assert "'unsafe-eval'" not in policy
    assert "script-src 'self' 'unsafe-inline'" not in policy


@pytest.mark.parametrize(
    "variables, named",
    [
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT='xml'"),
        ({"CHAT_MEDIA_STORAGE": "ftp"}, "CHAT_MEDIA_STORAGE='ftp'"),
        ({"CHAT_MEDIA_STORAGE": "s3"}, "AWS_STORAGE_BUCKET_NAME"),
    ],
)
def test_deployment_settings_that_cannot_work_stop_the_start_naming_the_variable(
    variables, named
):
    result = manage("check", **{**PRODUCTION_ENV, **variables})

    assert result.returncode != 0
    assert named in result.stderr


def test_concurrent_migrate_locked_runs_on_a_fresh_sqlite_database_all_succeed(tmp_path):
    """The lock file beside the database serialises them (plain `migrate` run three times
    at once fails here; PostgreSQL: tests/test_deployment.py, where three compose
    `migrate` jobs start at once)."""
    env = instance_environment(DATABASE_URL=f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    runs = [
        subprocess.Popen(
            [sys.executable, "manage.py", "migrate_locked", "--noinput"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for _ in range(3)
    ]
    outputs = [run.communicate(timeout=300)[0] for run in runs]

    assert [run.returncode for run in runs] == [0, 0, 0], outputs
    assert sum("Applying chat." in output for output in outputs) == 1
